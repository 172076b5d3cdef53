"""The simulator kit: a local vCenter (govmomi's vcsim, gaps filled) for tests and demos."""

from vmdk_volume.simkit.server import CallStats, ModelSize, Simulator, SimulatorError

__all__ = ['CallStats', 'ModelSize', 'Simulator', 'SimulatorError']
