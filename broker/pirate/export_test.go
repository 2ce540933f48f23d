package pirate

import "context"

// FailActor makes the load balancer's actor fail, as a bug would: it is
// told a message from nowhere, which it refuses with an error, and its
// supervisor restarts it.
func FailActor(ctx context.Context, b *LoadBalancer) error {
	return b.ref.Tell(ctx, lbMsg{})
}
