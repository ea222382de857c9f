import Foundation

/// How hard the worker tries one target, from the target's configuration (contract section 7).
public struct TargetPolicy: Sendable, Hashable {
    public var retry: RetryPolicy
    public var rateLimit: RateLimit?
    /// Vendor calls to this target at once, across all keys.
    public var maxConcurrency: Int
    public var breaker: BreakerPolicy

    public init(retry: RetryPolicy = RetryPolicy(), rateLimit: RateLimit? = nil, maxConcurrency: Int = 64, breaker: BreakerPolicy = BreakerPolicy()) {
        self.retry = retry
        self.rateLimit = rateLimit
        self.maxConcurrency = max(1, maxConcurrency)
        self.breaker = breaker
    }
}

/// Exponential backoff with full jitter: attempt n waits a random time up to
/// `min(maxBackoff, initialBackoff · 2^(n-1))`, or what the vendor's `Retry-After` asks if longer.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var initialBackoff: Duration
    public var maxBackoff: Duration

    public init(maxAttempts: Int = 5, initialBackoff: Duration = .milliseconds(200), maxBackoff: Duration = .seconds(30)) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.maxBackoff = max(initialBackoff, maxBackoff)
    }

    /// The cap of the wait after attempt `attempt` (1-based).
    public func cap(after attempt: Int) -> Duration {
        var cap = initialBackoff
        for _ in 1..<max(1, attempt) {
            cap = cap * 2
            if cap >= maxBackoff { return maxBackoff }
        }
        return min(cap, maxBackoff)
    }

    /// The wait after attempt `attempt`: full jitter under the cap, at least `retryAfter`.
    public func backoff(after attempt: Int, retryAfter: Duration?, random: Double = Double.random(in: 0...1)) -> Duration {
        let jittered = cap(after: attempt) * random
        return max(jittered, min(retryAfter ?? .zero, maxBackoff))
    }

    /// How long a command may wait in all for its target (an open breaker, the rate limit,
    /// the concurrency limit) without using attempts: as long as all its backoffs could take.
    public var budget: Duration {
        var total = Duration.zero
        for attempt in 1..<max(2, maxAttempts) { total += cap(after: attempt) }
        return max(total, .seconds(1))
    }
}

public struct RateLimit: Sendable, Hashable {
    public var perSecond: Double
    public var burst: Int

    public init(perSecond: Double, burst: Int) {
        self.perSecond = perSecond
        self.burst = max(1, burst)
    }
}

/// When a target's breaker opens: enough calls in the window and most of them failed
/// transiently. Validation, conflicts and the like are answers, not failures of the target. The
/// breaker is for outages; flakiness is what retries are for, so the default ratio is high
/// (a vendor failing 35% of calls keeps its breaker closed; one that is down trips it within
/// `minimumCalls` calls).
public struct BreakerPolicy: Sendable, Hashable {
    /// The last this many calls are judged.
    public var window: Int
    /// Fewer calls than this in the window never open the breaker.
    public var minimumCalls: Int
    public var failureRatio: Double
    /// How long the breaker stays open before one probe may go through.
    public var openDuration: Duration

    public init(window: Int = 40, minimumCalls: Int = 20, failureRatio: Double = 0.8, openDuration: Duration = .seconds(5)) {
        self.window = max(1, window)
        self.minimumCalls = max(1, min(minimumCalls, window))
        self.failureRatio = failureRatio
        self.openDuration = openDuration
    }
}
