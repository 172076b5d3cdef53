// Naive xsd:dateTime values. vcsim decodes time.Time with RFC 3339, which requires a zone, so
// a request carrying "2024-05-01T10:00:00" (as suds sends them) fails to decode. We add "Z"
// (UTC) to every element value that is a dateTime without zone before vcsim sees the request.
package main

import "regexp"

var naiveDateTime = regexp.MustCompile(`>(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)<`)

func zoneNaiveDateTimes(body []byte) []byte {
	return naiveDateTime.ReplaceAll(body, []byte(">${1}Z<"))
}
