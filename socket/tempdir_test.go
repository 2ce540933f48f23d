package socket_test

import "os"

// tempDir is a fresh directory for ipc endpoints in Examples, which have no
// testing.T to ask for one; it is left for the system to clean.
func tempDir() string {
	d, err := os.MkdirTemp("", "zmqflow-example-")
	if err != nil {
		panic(err)
	}
	return d
}
