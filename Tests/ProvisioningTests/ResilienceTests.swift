import Foundation
import Provisioning
import ProvisioningContract
import Synchronization
import Testing

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { instant.withLock { $0 } }
    func advance(_ duration: Duration) { instant.withLock { $0 += duration } }
}

@Suite("Retries, breakers, rate and concurrency limits")
struct ResilienceTests {
    let target = ProvisioningTarget(name: "t", vendor: .tecs, baseURL: "http://127.0.0.1:1")

    @Test("backoff: caps double from initialBackoff up to maxBackoff; full jitter below the cap; Retry-After honoured up to maxBackoff")
    func backoff() {
        let policy = RetryPolicy(maxAttempts: 6, initialBackoff: .milliseconds(200), maxBackoff: .seconds(1))
        #expect((1...6).map { policy.cap(after: $0) } == [.milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1), .seconds(1)])
        #expect(policy.backoff(after: 2, retryAfter: nil, random: 0) == .zero)
        #expect(policy.backoff(after: 2, retryAfter: nil, random: 0.5) == .milliseconds(200))
        #expect(policy.backoff(after: 2, retryAfter: nil, random: 1) == .milliseconds(400))
        #expect(policy.backoff(after: 1, retryAfter: .milliseconds(700), random: 0.1) == .milliseconds(700))
        #expect(policy.backoff(after: 1, retryAfter: .seconds(60), random: 0.1) == .seconds(1))
        for _ in 0..<100 { #expect((Duration.zero ... .milliseconds(800)).contains(policy.backoff(after: 3, retryAfter: nil))) }
        #expect(policy.budget == .milliseconds(3400))  // 200 + 400 + 800 + 1000 + 1000
    }

    @Test("breaker: opens on the failure ratio over the window, lets one probe through after openDuration, closes on its success, reopens on its failure")
    func breaker() {
        let clock = ManualClock()
        let guards = TargetGuards(clock: { clock.now })
        var target = self.target
        target.policy.breaker = BreakerPolicy(window: 10, minimumCalls: 4, failureRatio: 0.5, openDuration: .seconds(5))
        // 2 successes, 2 failures: 4 calls, ratio 0.5 → open.
        for failure in [false, false, true] {
            #expect(guards.admit(target) == .go)
            guards.finished(target, transientFailure: failure)
        }
        #expect(guards.breaker("t") == .closed)
        #expect(guards.admit(target) == .go)
        guards.finished(target, transientFailure: true)
        guard case .wait(let wait, _) = guards.admit(target) else {
            Issue.record("an open breaker lets nothing through")
            return
        }
        #expect(wait == .seconds(5))
        clock.advance(.seconds(5))
        #expect(guards.admit(target) == .go, "the probe")
        #expect(guards.admit(target) != .go, "only one probe at a time")
        guards.finished(target, transientFailure: true)
        #expect(guards.admit(target) != .go, "a failed probe opens it again")
        clock.advance(.seconds(5))
        #expect(guards.admit(target) == .go)
        guards.finished(target, transientFailure: false)
        #expect(guards.breaker("t") == .closed)
        #expect(guards.admit(target) == .go)
    }

    @Test("refusals (validation, conflict) are answers: they never open the breaker")
    func refusalsKeepTheBreakerClosed() {
        let guards = TargetGuards()
        for _ in 0..<50 {
            #expect(guards.admit(target) == .go)
            guards.finished(target, transientFailure: false)
        }
        #expect(guards.breaker("t") == .closed)
    }

    @Test("rate limit: a burst, then one call per 1/perSecond")
    func rateLimit() {
        let clock = ManualClock()
        let guards = TargetGuards(clock: { clock.now })
        var target = self.target
        target.policy.rateLimit = RateLimit(perSecond: 10, burst: 3)
        for _ in 0..<3 {
            #expect(guards.admit(target) == .go)
            guards.finished(target, transientFailure: false)
        }
        #expect(guards.admit(target) == .wait(.milliseconds(100), reason: "target rate limit"))
        clock.advance(.milliseconds(100))
        #expect(guards.admit(target) == .go)
    }

    @Test("concurrency: no more than maxConcurrency calls at once")
    func concurrency() {
        let guards = TargetGuards()
        var target = self.target
        target.policy.maxConcurrency = 2
        #expect(guards.admit(target) == .go)
        #expect(guards.admit(target) == .go)
        #expect(guards.admit(target) != .go)
        guards.finished(target, transientFailure: false)
        #expect(guards.admit(target) == .go)
    }

    func processor(_ adapter: RecordingAdapter, policy: TargetPolicy) -> CommandProcessor {
        var target = ProvisioningTarget(name: "tecs-test", vendor: .tecs, baseURL: "http://127.0.0.1:1")
        target.policy = policy
        return CommandProcessor(targets: ["tecs-test": target], adapters: [.tecs: adapter], worker: "test/1")
    }

    static let command = Array(#"{"commandId":"c","target":"tecs-test","operation":"assignRoles","userId":"u","roles":[{"name":"r"}]}"#.utf8)
    static let fast = TargetPolicy(retry: RetryPolicy(maxAttempts: 4, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(5)))

    @Test("a transient failure is retried until it succeeds; the reply counts the attempts")
    func retriedUntilSuccess() async {
        let calls = Mutex(0)
        let adapter = RecordingAdapter(.tecs) { _ in
            let call = calls.withLock {
                $0 += 1
                return $0
            }
            return call < 3
                ? .failed(AdapterFailure(.unavailable, code: "25000", message: "INTERNAL_SERVER_ERROR", retryable: true))
                : .succeeded(vendorUserId: "u", data: nil, vendorResponse: nil)
        }
        let result = await processor(adapter, policy: Self.fast).process(Self.command, receivedAt: Date())
        #expect(result.reply.status == .succeeded)
        #expect(result.reply.attempts == 3)
        #expect(result.deadLetter == nil)
    }

    @Test("when the attempts are spent: unavailable, the vendor's code, dead-lettered")
    func exhausted() async {
        let adapter = RecordingAdapter(.tecs) { _ in .failed(AdapterFailure(.unavailable, code: "25013", message: "DATA_ACCESS_ERROR", retryable: true)) }
        let result = await processor(adapter, policy: Self.fast).process(Self.command, receivedAt: Date())
        #expect(result.reply.attempts == 4)
        #expect(result.reply.error?.category == .unavailable)
        #expect(result.reply.error?.code == "25013")
        #expect(result.reply.error?.message.hasPrefix("gave up after 4 attempts") == true)
        #expect(result.deadLetter?.category == .unavailable)
        #expect(adapter.performed.withLock { $0.count } == 4)
    }

    @Test("a permanent failure is not retried")
    func permanentNotRetried() async {
        let adapter = RecordingAdapter(.tecs) { _ in .failed(AdapterFailure(.validation, code: "24012", message: "Mandatory fields are not filled email")) }
        let result = await processor(adapter, policy: Self.fast).process(Self.command, receivedAt: Date())
        #expect(result.reply.attempts == 1)
        #expect(result.reply.error?.category == .validation)
    }

    @Test("the vendor's Retry-After sets the pause before the next attempt")
    func retryAfter() async {
        let adapter = RecordingAdapter(.tecs) { _ in
            .failed(AdapterFailure(.unavailable, code: "503", message: "busy", retryable: true, retryAfter: .seconds(2)))
        }
        let policy = TargetPolicy(retry: RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(10), maxBackoff: .seconds(30)))
        let step = await processor(adapter, policy: policy).step(Self.command, receivedAt: Date(), progress: nil)
        guard case .retry(let delay, let progress) = step else {
            Issue.record("expected a retry")
            return
        }
        #expect(delay == .seconds(2))
        #expect(progress.attempts == 1)
    }

    @Test("an open breaker makes a command wait without using an attempt or calling the vendor")
    func openBreakerWaits() async {
        let adapter = RecordingAdapter(.tecs) { _ in .failed(AdapterFailure(.unavailable, message: "down", retryable: true)) }
        var policy = TargetPolicy(retry: RetryPolicy(maxAttempts: 2, initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(1)))
        policy.breaker = BreakerPolicy(window: 2, minimumCalls: 2, failureRatio: 1, openDuration: .seconds(60))
        let processor = processor(adapter, policy: policy)
        let first = await processor.process(Self.command, receivedAt: Date())  // two failed attempts open the breaker
        #expect(first.reply.attempts == 2)
        let before = adapter.performed.withLock { $0.count }
        let step = await processor.step(Self.command, receivedAt: Date(), progress: nil)
        guard case .retry(let wait, let progress) = step else {
            Issue.record("expected a wait")
            return
        }
        #expect(wait > .seconds(59) && wait <= .seconds(60))
        #expect(progress.attempts == 0)
        #expect(adapter.performed.withLock { $0.count } == before)
        #expect(CommandProcessor.waitBudget(policy) == .seconds(121), "the wait fits: backoffs (at least 1 s) plus two openings")
    }
}
