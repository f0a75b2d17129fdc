// Package retry holds livyha's retry policy: capped exponential backoff with
// full jitter, attempt and elapsed-time limits, a retry budget (a token
// bucket in the manner of gRPC's retry throttling, so a dead cluster is not
// hammered), and the classification of failures that are worth retrying.
//
// It depends on the standard library only. Adapters produce functions with
// the signatures of github.com/hashicorp/go-retryablehttp's CheckRetry and
// Backoff, so a Policy configures a retryablehttp.Client directly.
package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Policy is a backoff policy. The zero value retries nothing (one attempt).
type Policy struct {
	// Initial is the cap of the first backoff (full jitter: a wait is
	// uniform in [0, cap)).
	Initial time.Duration
	// Max caps every backoff.
	Max time.Duration
	// Multiplier grows the cap per retry (values below 1 count as 1).
	Multiplier float64
	// MaxAttempts is the total number of attempts including the first;
	// values below 1 mean 1.
	MaxAttempts int
	// MaxElapsed bounds the time from the first attempt to the start of
	// the last one; 0 means no bound other than the context's.
	MaxElapsed time.Duration
}

// Default is livyha's default policy: 5 attempts, 50ms initial cap doubling
// to 2s, at most 30s in all.
func Default() Policy {
	return Policy{Initial: 50 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, MaxAttempts: 5, MaxElapsed: 30 * time.Second}
}

// Cap returns the backoff cap before retry n (n = 1 for the first retry):
// min(Max, Initial * Multiplier^(n-1)).
func (p Policy) Cap(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	m := p.Multiplier
	if m < 1 {
		m = 1
	}
	c := float64(p.Initial) * math.Pow(m, float64(n-1))
	if p.Max > 0 && c > float64(p.Max) {
		c = float64(p.Max)
	}
	if c > float64(math.MaxInt64/2) || math.IsNaN(c) {
		c = float64(math.MaxInt64 / 2)
	}
	return time.Duration(c)
}

// Backoff returns a full-jitter wait before retry n: uniform in [0, Cap(n)).
func (p Policy) Backoff(n int) time.Duration {
	c := p.Cap(n)
	if c <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(c)))
}

// Attempts returns MaxAttempts, at least 1.
func (p Policy) Attempts() int { return max(p.MaxAttempts, 1) }

// Errors returned by Do.
var (
	// ErrBudgetExhausted: the retry budget refused a retry.
	ErrBudgetExhausted = errors.New("retry: budget exhausted")
	// ErrAttemptsExhausted: MaxAttempts or MaxElapsed was reached.
	ErrAttemptsExhausted = errors.New("retry: attempts exhausted")
)

type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Permanent marks err as not retryable: Do returns it at once (unwrapped).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanent
	return errors.As(err, &p)
}

// DoOption configures Do.
type DoOption func(*doConfig)

type doConfig struct {
	budget    *Budget
	retryable func(error) bool
	onRetry   func(attempt int, err error, wait time.Duration)
	wait      func(ctx context.Context, d time.Duration) error
}

// WithBudget makes Do spend budget on retries and credit it on success.
func WithBudget(b *Budget) DoOption { return func(c *doConfig) { c.budget = b } }

// WithClassifier sets which errors are retried (default: Retryable).
func WithClassifier(f func(error) bool) DoOption { return func(c *doConfig) { c.retryable = f } }

// WithOnRetry is called before each wait with the attempt that failed.
func WithOnRetry(f func(attempt int, err error, wait time.Duration)) DoOption {
	return func(c *doConfig) { c.onRetry = f }
}

// WithWait replaces the wait between attempts (default: sleep d, or less
// if ctx ends). A wait may return early, e.g. when the cluster view
// changes; an error ends Do with it.
func WithWait(f func(ctx context.Context, d time.Duration) error) DoOption {
	return func(c *doConfig) { c.wait = f }
}

// Do calls fn until it succeeds, returns an error that is not retryable
// (or is marked Permanent), the policy's attempts or elapsed time run out,
// the budget refuses a retry, or ctx ends. The error returned wraps the last
// error of fn, and ErrAttemptsExhausted or ErrBudgetExhausted when those
// ended the loop.
func Do(ctx context.Context, p Policy, fn func(ctx context.Context) error, opts ...DoOption) error {
	cfg := doConfig{retryable: Retryable}
	for _, o := range opts {
		o(&cfg)
	}
	start := time.Now()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := fn(ctx)
		if err == nil {
			cfg.budget.OnSuccess()
			return nil
		}
		var perm *permanent
		if errors.As(err, &perm) {
			return perm.err
		}
		if ctx.Err() != nil || !cfg.retryable(err) {
			return err
		}
		cfg.budget.OnFailure()
		if attempt >= p.Attempts() {
			return fmt.Errorf("%w after %d attempts: %w", ErrAttemptsExhausted, attempt, err)
		}
		wait := p.Backoff(attempt)
		if p.MaxElapsed > 0 && time.Since(start)+wait > p.MaxElapsed {
			return fmt.Errorf("%w: %s elapsed after %d attempts: %w", ErrAttemptsExhausted, p.MaxElapsed, attempt, err)
		}
		if !cfg.budget.Allow() {
			return fmt.Errorf("%w after %d attempts: %w", ErrBudgetExhausted, attempt, err)
		}
		if cfg.onRetry != nil {
			cfg.onRetry(attempt, err, wait)
		}
		if cfg.wait != nil {
			if werr := cfg.wait(ctx, wait); werr != nil {
				return fmt.Errorf("%w (last error: %v)", werr, err)
			}
			continue
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-timer.C:
		}
	}
}

// Budget caps retries to a fraction of requests, like gRPC's retry
// throttling: it holds up to MaxTokens tokens (starting full); each failed
// attempt takes one, each success returns Ratio; retries are allowed only
// while more than half the tokens remain. A nil *Budget allows everything.
type Budget struct {
	mu     sync.Mutex
	tokens float64
	max    float64
	ratio  float64
}

// NewBudget returns a full budget. gRPC's example values are
// maxTokens=10, ratio=0.1: after a burst of failures, one retry per ten
// successes.
func NewBudget(maxTokens, ratio float64) *Budget {
	if maxTokens <= 0 {
		maxTokens = 10
	}
	if ratio <= 0 {
		ratio = 0.1
	}
	return &Budget{tokens: maxTokens, max: maxTokens, ratio: ratio}
}

// Allow reports whether a retry may be made now.
func (b *Budget) Allow() bool {
	if b == nil {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tokens > b.max/2
}

// OnFailure records a failed attempt.
func (b *Budget) OnFailure() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.tokens = max(0, b.tokens-1)
	b.mu.Unlock()
}

// OnSuccess records a successful attempt.
func (b *Budget) OnSuccess() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.tokens = min(b.max, b.tokens+b.ratio)
	b.mu.Unlock()
}

// Tokens returns the tokens left (for observability and tests).
func (b *Budget) Tokens() float64 {
	if b == nil {
		return math.Inf(1)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tokens
}
