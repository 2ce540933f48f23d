module github.com/zmqflow/zmqflow/bench

go 1.26.0

replace github.com/zmqflow/zmqflow => ../

require (
	github.com/go-zeromq/zmq4 v0.17.0
	github.com/pebbe/zmq4 v1.4.0
	github.com/zmqflow/zmqflow v0.0.0-00010101000000-000000000000
)

require (
	github.com/go-zeromq/goczmq/v4 v4.2.2 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
