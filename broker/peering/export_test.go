package peering

import "context"

// FailActor makes the broker's actor fail, as a bug would: it is told a
// message from nowhere, which it refuses with an error, and its
// supervisor restarts it.
func FailActor(ctx context.Context, b *Broker) error {
	return b.ref.Tell(ctx, msg{})
}

// MaxPending is the most requests a Broker reads ahead from its clients,
// and apart from its peers.
const MaxPending = maxPending
