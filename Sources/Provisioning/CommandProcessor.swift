import Foundation
import ProvisioningContract

/// Turns one Kafka record value into its reply: decode and validate, route to the target's
/// adapter, answer what the router can answer itself (unknown target, unsupported operation,
/// expired, dry run) and let the adapter do the rest. Knows nothing of Kafka.
public struct CommandProcessor: Sendable {
    public let targets: [String: ProvisioningTarget]
    public let adapters: [VendorKind: any VendorAdapter]
    public let worker: String
    /// Breakers, rate limits and concurrency limits of the targets.
    public let guards: TargetGuards
    /// The clock, replaceable in tests.
    public var now: @Sendable () -> Date = { Date() }

    public init(targets: [String: ProvisioningTarget], adapters: [VendorKind: any VendorAdapter], worker: String, guards: TargetGuards = TargetGuards()) {
        self.targets = targets
        self.adapters = adapters
        self.worker = worker
        self.guards = guards
    }

    /// Gives back what a waiting command holds at its target: the command will not step again.
    public func release(_ progress: Progress) {
        guard let ticket = progress.ticket else { return }
        guards.release(ticket, of: progress.target)
    }

    /// Creates each target's vendor series at zero; after metrics are bootstrapped (a handle
    /// made before stays a no-op).
    public func prepareMetrics() {
        for name in targets.keys { VendorMetrics.prepare(target: name) }
    }

    /// The outcome of one record: its reply, and the error to dead-letter it with, if any.
    public struct Result: Sendable {
        public var reply: ProvisioningReply
        public var command: ProvisioningCommand?
        /// Set when the contract sends this failure to the dead-letter topic too.
        public var deadLetter: ReplyError?
    }

    /// Where a command stands between attempts: decoded, routed, and how far into its budget.
    public struct Progress: Sendable {
        public var command: ProvisioningCommand
        public var attempts: Int
        var target: ProvisioningTarget
        /// The last transient failure, which the next attempt retries.
        public internal(set) var lastFailure: AdapterFailure?
        /// Waiting for the target (breaker, rate, concurrency) must end by then.
        var waitDeadline: ContinuousClock.Instant
        /// The command's place in its target's line, while it waits for one.
        public internal(set) var ticket: TargetTicket?
    }

    /// What to do next with a command.
    public enum Step: Sendable {
        case finished(Result)
        /// Try again after the pause (a backoff after a failed attempt). The command keeps its
        /// key; nothing else needs to wait for it.
        case retry(after: Duration, Progress)
        /// The target is not taking calls now: step again once the ticket is woken (its slot
        /// granted, or its wait over), or give the ticket back with `release` if the command
        /// will not step again. The command keeps its key, as for a retry.
        case waitForTarget(TargetTicket, Progress)
    }

    /// One step: the first decodes and routes; each later one is an attempt at the vendor, or
    /// the verdict that the target is not ready yet.
    public func step(_ value: [UInt8]?, receivedAt: Date, progress: Progress?) async -> Step {
        var progress = progress
        if progress == nil {
            switch CommandDecoder.decode(value) {
            case .failure(let rejection):
                let error = ReplyError(category: .invalidCommand, message: Redaction.scrub(rejection.message))
                let reply = ProvisioningReply(
                    commandId: rejection.commandId, correlationId: rejection.correlationId, target: rejection.target,
                    vendor: rejection.target.flatMap { targets[$0]?.vendor.rawValue }, operation: rejection.operation,
                    status: .failed, error: error, attempts: 0, dryRun: false, receivedAt: receivedAt, completedAt: now(), worker: worker
                )
                return .finished(Result(reply: reply, command: nil, deadLetter: error))
            case .success(let command):
                switch route(command, receivedAt: receivedAt) {
                case .left(let outcome):
                    return .finished(result(command, outcome: outcome, attempts: 0, receivedAt: receivedAt))
                case .right(let target):
                    progress = Progress(command: command, attempts: 0, target: target, waitDeadline: ContinuousClock.now + Self.waitBudget(target.policy))
                }
            }
        }
        guard var progress else { preconditionFailure("a routed command always has its progress") }
        guard let adapter = adapters[progress.target.vendor] else {
            return .finished(result(progress.command, outcome: .failed(AdapterFailure(.internal, message: "no adapter")), attempts: 0, receivedAt: receivedAt))
        }
        let target = progress.target
        switch guards.admit(target, ticket: progress.ticket, deadline: progress.waitDeadline) {
        case .expired(let reason):
            VendorMetrics.breaker(target: target.name, state: guards.breaker(target.name))
            let failure =
                progress.lastFailure.map { Self.exhausted($0, attempts: progress.attempts, waiting: reason) }
                ?? AdapterFailure(
                    .unavailable, message: "\(reason): gave up waiting for '\(target.name)' after \(Self.waitBudget(target.policy))", retryable: true)
            return .finished(result(progress.command, outcome: .failed(failure), attempts: progress.attempts, receivedAt: receivedAt))
        case .wait(let ticket):
            progress.ticket = ticket
            return .waitForTarget(ticket, progress)
        case .go:
            progress.ticket = nil
            progress.attempts += 1
            let started = ContinuousClock.now
            let command = progress.command
            // Every line the adapter logs (calls, token renewals) names the command.
            let outcome = await CommandIdentity(command).bind { await adapter.perform(command, for: target) }
            let failure: AdapterFailure? = if case .failed(let failure) = outcome { failure } else { nil }
            guards.finished(target, transientFailure: failure.map { $0.error.retryable } ?? false)
            VendorMetrics.call(
                target: target.name, operation: progress.command.operation.rawValue,
                outcome: failure?.error.category.rawValue ?? "success", duration: ContinuousClock.now - started
            )
            VendorMetrics.breaker(target: target.name, state: guards.breaker(target.name))
            guard let failure, failure.error.retryable else {
                return .finished(result(progress.command, outcome: outcome, attempts: progress.attempts, receivedAt: receivedAt))
            }
            guard progress.attempts < target.policy.retry.maxAttempts else {
                return .finished(
                    result(
                        progress.command, outcome: .failed(Self.exhausted(failure, attempts: progress.attempts)), attempts: progress.attempts,
                        receivedAt: receivedAt))
            }
            progress.lastFailure = failure
            VendorMetrics.retry(target: target.name)
            return .retry(after: target.policy.retry.backoff(after: progress.attempts, retryAfter: failure.retryAfter), progress)
        }
    }

    /// How long a command may wait for its target without using attempts: its backoffs, plus
    /// two openings of the breaker, so that one outage shorter than that costs no command.
    public static func waitBudget(_ policy: TargetPolicy) -> Duration {
        policy.retry.budget + policy.breaker.openDuration * 2
    }

    /// A transient failure that outlasted the retry budget: `unavailable`, dead-lettered.
    static func exhausted(_ failure: AdapterFailure, attempts: Int, waiting reason: String? = nil) -> AdapterFailure {
        var final = failure
        final.error.category = .unavailable
        final.error.message = "gave up after \(attempts) attempt\(attempts == 1 ? "" : "s")\(reason.map { " (\($0))" } ?? ""): \(failure.error.message)"
        return final
    }

    /// What the router answers itself (`left`), or the target to call (`right`).
    private func route(_ command: ProvisioningCommand, receivedAt: Date) -> Either<AdapterOutcome, ProvisioningTarget> {
        guard let target = targets[command.target] else {
            return .left(.failed(AdapterFailure(.unknownTarget, message: "target '\(command.target)' is not configured")))
        }
        if !target.vendor.supportedOperations.contains(command.operation) {
            return .left(.failed(AdapterFailure(.unsupportedOperation, message: "\(target.vendor.rawValue) has no '\(command.operation.rawValue)'")))
        }
        if let notAfter = command.notAfter, receivedAt > notAfter {
            return .left(
                .failed(AdapterFailure(.expired, message: "picked up at \(Timestamp.format(receivedAt)), after notAfter \(Timestamp.format(notAfter))")))
        }
        guard let adapter = adapters[target.vendor] else {
            return .left(.failed(AdapterFailure(.internal, message: "no adapter for vendor \(target.vendor.rawValue)")))
        }
        if command.dryRun {
            switch adapter.plan(command, for: target) {
            case .success(let request): return .left(.succeeded(vendorUserId: command.userId, data: .object(["request": request]), vendorResponse: nil))
            case .failure(let failure): return .left(.failed(failure))
            }
        }
        return .right(target)
    }

    private enum Either<Left, Right> {
        case left(Left)
        case right(Right)
    }

    private func result(_ command: ProvisioningCommand, outcome: AdapterOutcome, attempts: Int, receivedAt: Date) -> Result {
        let target = targets[command.target]
        var reply = ProvisioningReply(
            commandId: command.commandId, correlationId: command.correlationId, target: command.target,
            vendor: target?.vendor.rawValue, operation: command.operation.rawValue, status: .succeeded,
            attempts: attempts, dryRun: command.dryRun, receivedAt: receivedAt, completedAt: now(), worker: worker
        )
        var deadLetter: ReplyError?
        switch outcome {
        case .succeeded(let vendorUserId, let data, let vendorResponse):
            reply.vendorUserId = vendorUserId
            reply.data = data
            reply.vendorResponse = vendorResponse
        case .failed(let failure):
            reply.status = .failed
            reply.error = failure.error
            reply.vendorResponse = failure.vendorResponse
            reply.vendorUserId = failure.vendorUserId
        }
        // Whatever the vendor echoed of the command's secrets stays here.
        reply.redact(knownSecrets: command.secretValues)
        if let error = reply.error, error.category.isDeadLettered { deadLetter = error }
        return Result(reply: reply, command: command, deadLetter: deadLetter)
    }
}
