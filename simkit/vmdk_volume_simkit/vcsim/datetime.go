//    Licensed under the Apache License, Version 2.0 (the "License"); you may
//    not use this file except in compliance with the License. You may obtain
//    a copy of the License at
//
//         http://www.apache.org/licenses/LICENSE-2.0
//
//    Unless required by applicable law or agreed to in writing, software
//    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
//    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
//    License for the specific language governing permissions and limitations
//    under the License.

// Naive xsd:dateTime values. vcsim decodes time.Time with RFC 3339, which requires a zone, so
// a request carrying "2024-05-01T10:00:00" (as suds sends them) fails to decode. We add "Z"
// (UTC) to every element value that is a dateTime without zone before vcsim sees the request.
package main

import "regexp"

var naiveDateTime = regexp.MustCompile(`>(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)<`)

func zoneNaiveDateTimes(body []byte) []byte {
	return naiveDateTime.ReplaceAll(body, []byte(">${1}Z<"))
}
