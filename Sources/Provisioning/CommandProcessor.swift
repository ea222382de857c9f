import Foundation
import ProvisioningContract

/// Turns one Kafka record value into its reply: decode and validate, route to the target's
/// adapter, answer what the router can answer itself (unknown target, unsupported operation,
/// expired, dry run) and let the adapter do the rest. Knows nothing of Kafka.
public struct CommandProcessor: Sendable {
    public let targets: [String: ProvisioningTarget]
    public let adapters: [VendorKind: any VendorAdapter]
    public let worker: String
    /// The clock, replaceable in tests.
    public var now: @Sendable () -> Date = { Date() }

    public init(targets: [String: ProvisioningTarget], adapters: [VendorKind: any VendorAdapter], worker: String) {
        self.targets = targets
        self.adapters = adapters
        self.worker = worker
    }

    /// The outcome of one record: its reply, and the error to dead-letter it with, if any.
    public struct Result: Sendable {
        public var reply: ProvisioningReply
        public var command: ProvisioningCommand?
        /// Set when the contract sends this failure to the dead-letter topic too.
        public var deadLetter: ReplyError?
    }

    public func process(_ value: [UInt8]?, receivedAt: Date) async -> Result {
        switch CommandDecoder.decode(value) {
        case .failure(let rejection):
            let error = ReplyError(category: .invalidCommand, message: rejection.message)
            let reply = ProvisioningReply(
                commandId: rejection.commandId, correlationId: rejection.correlationId, target: rejection.target,
                vendor: rejection.target.flatMap { targets[$0]?.vendor.rawValue }, operation: rejection.operation,
                status: .failed, error: error, attempts: 0, dryRun: false, receivedAt: receivedAt, completedAt: now(), worker: worker
            )
            return Result(reply: reply, command: nil, deadLetter: error)
        case .success(let command):
            return await process(command, receivedAt: receivedAt)
        }
    }

    public func process(_ command: ProvisioningCommand, receivedAt: Date) async -> Result {
        let target = targets[command.target]
        let outcome: AdapterOutcome
        var attempts = 0
        if let target {
            if !target.vendor.supportedOperations.contains(command.operation) {
                outcome = .failed(AdapterFailure(.unsupportedOperation, message: "\(target.vendor.rawValue) has no '\(command.operation.rawValue)'"))
            } else if let notAfter = command.notAfter, receivedAt > notAfter {
                outcome = .failed(AdapterFailure(.expired, message: "picked up at \(Timestamp.format(receivedAt)), after notAfter \(Timestamp.format(notAfter))"))
            } else if let adapter = adapters[target.vendor] {
                if command.dryRun {
                    switch adapter.plan(command, for: target) {
                    case .success(let request): outcome = .succeeded(vendorUserId: command.userId, data: .object(["request": request]), vendorResponse: nil)
                    case .failure(let failure): outcome = .failed(failure)
                    }
                } else {
                    attempts = 1
                    outcome = await adapter.perform(command, for: target)
                }
            } else {
                outcome = .failed(AdapterFailure(.internal, message: "no adapter for vendor \(target.vendor.rawValue)"))
            }
        } else {
            outcome = .failed(AdapterFailure(.unknownTarget, message: "target '\(command.target)' is not configured"))
        }

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
            if failure.error.category.isDeadLettered { deadLetter = failure.error }
        }
        return Result(reply: reply, command: command, deadLetter: deadLetter)
    }
}
