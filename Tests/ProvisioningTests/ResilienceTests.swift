import Foundation
import Provisioning
import ProvisioningContract
import Synchronization
import Testing

/// A clock the test moves by hand, and the timers set on it: `advance` runs those that come due.
final class ManualClock: WakeUpScheduling {
    private struct State {
        var now = ContinuousClock.now
        var timers: [(at: ContinuousClock.Instant, body: @Sendable () -> Void)] = []
        var scheduled = 0
    }

    private let state = Mutex(State())
    var now: ContinuousClock.Instant { state.withLock { $0.now } }
    /// Timers set so far, fired or not.
    var scheduled: Int { state.withLock { $0.scheduled } }
    /// The instants of the timers not fired yet, earliest first.
    var pending: [ContinuousClock.Instant] { state.withLock { $0.timers.map(\.at).sorted() } }

    func schedule(at instant: ContinuousClock.Instant, _ body: @escaping @Sendable () -> Void) {
        state.withLock {
            $0.timers.append((instant, body))
            $0.scheduled += 1
        }
    }

    func advance(_ duration: Duration) {
        let due = state.withLock { state -> [@Sendable () -> Void] in
            state.now += duration
            let now = state.now
            let due = state.timers.filter { $0.at <= now }.sorted { $0.at < $1.at }.map(\.body)
            state.timers.removeAll { $0.at <= now }
            return due
        }
        for body in due { body() }
    }
}

/// Whether a ticket was woken, and with what `admit` then says.
final class Woken: Sendable {
    private let count = Mutex(0)
    var times: Int { count.withLock { $0 } }

    init(_ ticket: TargetTicket) {
        ticket.onWake { [self] in count.withLock { $0 += 1 } }
    }
}

extension TargetGuards.Admission {
    var isGo: Bool {
        if case .go = self { return true }
        return false
    }

    var ticket: TargetTicket? {
        if case .wait(let ticket) = self { return ticket }
        return nil
    }
}

@Suite("Retries, breakers, rate and concurrency limits", .timeLimit(.minutes(10)))
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

    @Test(
        "breaker: opens on the failure ratio over the window; the first in line is woken once, at the probe time; a failed probe reopens it; a good one lets the line through"
    )
    func breaker() throws {
        let clock = ManualClock()
        let guards = TargetGuards(clock: { clock.now }, wakeUps: clock)
        var target = self.target
        target.policy.breaker = BreakerPolicy(window: 10, minimumCalls: 4, failureRatio: 0.5, openDuration: .seconds(5))
        // 2 successes, 2 failures: 4 calls, ratio 0.5 → open.
        for failure in [false, false, true] {
            #expect(guards.admit(target).isGo)
            guards.finished(target, transientFailure: failure)
        }
        #expect(guards.breaker("t") == .closed)
        #expect(guards.admit(target).isGo)
        guards.finished(target, transientFailure: true)
        let first = try #require(guards.admit(target).ticket, "an open breaker lets nothing through")
        #expect(first.reason == "circuit breaker open")
        let second = try #require(guards.admit(target).ticket)
        let (woken1, woken2) = (Woken(first), Woken(second))
        #expect(clock.scheduled == 1, "one wake-up for the target, not one per waiting command")
        clock.advance(.milliseconds(4999))
        #expect(woken1.times == 0)
        clock.advance(.milliseconds(1))
        #expect(woken1.times == 1 && woken2.times == 0, "the probe goes to the first in line")
        #expect(guards.admit(target, ticket: first).isGo, "the probe")
        #expect(!guards.admit(target).isGo, "only one probe at a time")
        guards.finished(target, transientFailure: true)
        #expect(woken2.times == 0, "a failed probe opens it again")
        clock.advance(.seconds(5))
        #expect(woken2.times == 1)
        #expect(guards.admit(target, ticket: second).isGo)
        guards.finished(target, transientFailure: false)
        #expect(guards.breaker("t") == .closed)
        #expect(guards.waiting("t") == 0, "the newcomer queued during the probe was let through")
        #expect(guards.admit(target).isGo)
    }

    @Test("refusals (validation, conflict) are answers: they never open the breaker")
    func refusalsKeepTheBreakerClosed() {
        let guards = TargetGuards()
        for _ in 0..<50 {
            #expect(guards.admit(target).isGo)
            guards.finished(target, transientFailure: false)
        }
        #expect(guards.breaker("t") == .closed)
    }

    @Test("rate limit: a burst, then the line is woken once per token, at the instant it is due")
    func rateLimit() throws {
        let clock = ManualClock()
        let guards = TargetGuards(clock: { clock.now }, wakeUps: clock)
        var target = self.target
        target.policy.rateLimit = RateLimit(perSecond: 10, burst: 3)
        for _ in 0..<3 {
            #expect(guards.admit(target).isGo)
            guards.finished(target, transientFailure: false)
        }
        let tickets = try (0..<3).map { _ in try #require(guards.admit(target).ticket) }
        #expect(tickets[0].reason == "target rate limit")
        let woken = tickets.map(Woken.init)
        #expect(clock.pending == [clock.now + .milliseconds(100)], "one wake-up, at the next token")
        clock.advance(.milliseconds(99))
        #expect(woken.map(\.times) == [0, 0, 0])
        clock.advance(.milliseconds(1))
        #expect(woken.map(\.times) == [1, 0, 0])
        #expect(guards.admit(target, ticket: tickets[0]).isGo)
        guards.finished(target, transientFailure: false)
        #expect(woken.map(\.times) == [1, 0, 0], "a finished call frees a slot, not a token")
        clock.advance(.milliseconds(100))
        #expect(woken.map(\.times) == [1, 1, 0], "the next token goes to the next in line")
        clock.advance(.milliseconds(100))
        #expect(woken.map(\.times) == [1, 1, 1])
        #expect(clock.scheduled == 3, "one wake-up per token instant")
    }

    @Test(
        "concurrency: no more than maxConcurrency calls at once; a finished call grants its slot to the first in line, before any newcomer; no timer but the deadline"
    )
    func concurrency() throws {
        let clock = ManualClock()
        let guards = TargetGuards(clock: { clock.now }, wakeUps: clock)
        var target = self.target
        target.policy.maxConcurrency = 2
        #expect(guards.admit(target).isGo)
        #expect(guards.admit(target).isGo)
        let ticket = try #require(guards.admit(target, deadline: clock.now + .seconds(60)).ticket)
        #expect(ticket.reason == "target at maxConcurrency")
        let woken = Woken(ticket)
        #expect(clock.pending == [clock.now + .seconds(60)], "only the line's deadline is timed")
        guards.finished(target, transientFailure: false)
        #expect(woken.times == 1)
        #expect(!guards.admit(target).isGo, "the freed slot is the ticket's, not a newcomer's")
        #expect(guards.admit(target, ticket: ticket).isGo)
        #expect(guards.snapshot()["t"]?.running == 2)
    }

    @Test("a command in line past its deadline is woken and gives up, naming what it waited for")
    func deadline() throws {
        let clock = ManualClock()
        let guards = TargetGuards(clock: { clock.now }, wakeUps: clock)
        var target = self.target
        target.policy.maxConcurrency = 1
        #expect(guards.admit(target).isGo)
        let ticket = try #require(guards.admit(target, deadline: clock.now + .seconds(3)).ticket)
        let woken = Woken(ticket)
        clock.advance(.seconds(3))
        #expect(woken.times == 1)
        guard case .expired(let reason) = guards.admit(target, ticket: ticket) else {
            Issue.record("expected the ticket to give up")
            return
        }
        #expect(reason == "target at maxConcurrency")
        #expect(guards.waiting("t") == 0)
    }

    @Test("a granted slot given back unused goes to the next in line; a place given back leaves the line")
    func release() throws {
        let guards = TargetGuards()
        var target = self.target
        target.policy.maxConcurrency = 1
        #expect(guards.admit(target).isGo)
        let first = try #require(guards.admit(target).ticket)
        let second = try #require(guards.admit(target).ticket)
        let third = try #require(guards.admit(target).ticket)
        let woken = [first, second, third].map(Woken.init)
        guards.release(second, of: target)
        #expect(guards.waiting("t") == 2)
        guards.finished(target, transientFailure: false)
        #expect(woken.map(\.times) == [1, 0, 0])
        guards.release(first, of: target)
        #expect(woken.map(\.times) == [1, 0, 1], "the slot passed on to the next still in line")
        #expect(guards.admit(target, ticket: third).isGo)
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
        guard case .waitForTarget(let ticket, let progress) = step else {
            Issue.record("expected a wait")
            return
        }
        #expect(ticket.reason == "circuit breaker open")
        #expect(progress.attempts == 0)
        #expect(adapter.performed.withLock { $0.count } == before)
        #expect(CommandProcessor.waitBudget(policy) == .seconds(121), "the wait fits: backoffs (at least 1 s) plus two openings")
    }
}
