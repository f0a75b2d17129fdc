package discovery

// Source turns one configuration into a stream of States, in the manner of
// grpc-go's resolver: the Resolver owns the lifecycle, turns each State
// into an immutable Snapshot, publishes it, and answers lookups; consumers
// never know which source they read. NewResolver builds the source a
// target string names; NewResolverFromSource takes any Source, such as
// the one package discovery/manual provides for tests.
type Source interface {
	// Start begins discovery. The source then calls p.Publish with each
	// new State and p.ReportError with failures, from any goroutine, until
	// Close returns. Start must not block.
	Start(p Publisher)
	// Refresh asks the source to read again now (a client saw evidence
	// that the view is stale). It must not block.
	Refresh()
	// Close stops the source. It must not call its Publisher after Close
	// returns.
	Close()
}

// Publisher receives what a Source reads.
type Publisher interface {
	// Publish replaces the current view of the cluster.
	Publish(State)
	// ReportError records why reading failed; the last view stays.
	ReportError(error)
}

// requestCounter is implemented by sources that count their ZooKeeper
// requests (Stats).
type requestCounter interface{ requests() uint64 }

// moder is implemented by sources that know their mode before the first
// reading.
type moder interface{ mode() Mode }
