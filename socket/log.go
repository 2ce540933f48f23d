package socket

import "go.uber.org/zap"

// logger is the socket's zap logger with the calls the package makes.
type logger struct{ l *zap.Logger }

func zapType(t Type) zap.Field { return zap.Stringer("type", t) }

func (l logger) debug(msg, endpoint string, err error) {
	l.l.Debug(msg, zap.String("endpoint", endpoint), zap.Error(err))
}
