import Instrumentation
import Logging
import ProvisioningContract

/// Which command a task works on. Carried in the task's `ServiceContext`, so that every line
/// logged while it runs (the vendor call, a token renewal) names the command without each
/// logger being handed its metadata.
public struct CommandIdentity: Sendable, Hashable {
    public var commandId: String?
    public var correlationId: String?
    public var target: String?
    public var operation: String?

    public init(commandId: String?, correlationId: String?, target: String?, operation: String?) {
        self.commandId = commandId
        self.correlationId = correlationId
        self.target = target
        self.operation = operation
    }

    public init(_ command: ProvisioningCommand) {
        self.init(commandId: command.commandId, correlationId: command.correlationId, target: command.target, operation: command.operation.rawValue)
    }

    public init(_ reply: ProvisioningReply) {
        self.init(commandId: reply.commandId, correlationId: reply.correlationId, target: reply.target, operation: reply.operation)
    }

    /// The four keys every log line about a command carries.
    public var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        if let commandId { metadata["commandId"] = "\(commandId)" }
        if let correlationId { metadata["correlationId"] = "\(correlationId)" }
        if let target { metadata["target"] = "\(target)" }
        if let operation { metadata["operation"] = "\(operation)" }
        return metadata
    }

    /// Runs `body` with this identity in the task's context.
    public func bind<Result: Sendable>(_ body: () async -> Result) async -> Result {
        var context = ServiceContext.current ?? .topLevel
        context[CommandIdentityKey.self] = self
        return await ServiceContext.withValue(context) { await body() }
    }
}

private enum CommandIdentityKey: ServiceContextKey {
    typealias Value = CommandIdentity
}

extension ServiceContext {
    /// The command the current task works on, if any.
    public var command: CommandIdentity? { self[CommandIdentityKey.self] }
}

extension Logger.MetadataProvider {
    /// Adds the current task's command identity to every log line.
    public static let command = Logger.MetadataProvider {
        ServiceContext.current?.command?.metadata ?? [:]
    }
}
