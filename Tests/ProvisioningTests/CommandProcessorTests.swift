import Foundation
import Provisioning
import ProvisioningContract
import Synchronization
import Testing

/// An adapter that records what it was asked and answers as told.
final class RecordingAdapter: VendorAdapter {
    let kind: VendorKind
    let performed = Mutex<[String]>([])
    let answer: @Sendable (ProvisioningCommand) -> AdapterOutcome

    init(
        _ kind: VendorKind,
        answer: @escaping @Sendable (ProvisioningCommand) -> AdapterOutcome = {
            .succeeded(vendorUserId: $0.user?.userName ?? $0.userId, data: nil, vendorResponse: VendorResponse(httpStatus: 200))
        }
    ) {
        self.kind = kind
        self.answer = answer
    }

    func plan(_ command: ProvisioningCommand, for target: ProvisioningTarget) -> Result<JSONValue, AdapterFailure> {
        .success(.object(["method": .string("POST"), "url": .string(target.baseURL + "/registerUser"), "authorization": .string("<redacted>")]))
    }

    func perform(_ command: ProvisioningCommand, for target: ProvisioningTarget) async -> AdapterOutcome {
        performed.withLock { $0.append(command.commandId) }
        return answer(command)
    }
}

@Suite("Routing a command to its reply", .timeLimit(.minutes(10)))
struct CommandProcessorTests {
    let received = Date(timeIntervalSince1970: 1_795_428_000)
    let tecs = RecordingAdapter(.tecs)
    let urac = RecordingAdapter(.urac) { _ in
        .failed(AdapterFailure(.unauthorized, code: "132", message: "A valid key is needed", vendorResponse: VendorResponse(httpStatus: 403, code: "132")))
    }

    var processor: CommandProcessor {
        CommandProcessor(
            targets: [
                "tecs-test": ProvisioningTarget(name: "tecs-test", vendor: .tecs, baseURL: "http://127.0.0.1:8080/usermanagement-backofficews"),
                "urac-test": ProvisioningTarget(name: "urac-test", vendor: .urac, baseURL: "http://127.0.0.1:8080/urac"),
            ],
            adapters: [.tecs: tecs, .urac: urac],
            worker: "test/1"
        )
    }

    func process(_ json: String) async -> CommandProcessor.Result {
        await processor.process(Array(json.utf8), receivedAt: received)
    }

    @Test("a valid command reaches its target's adapter and succeeds")
    func succeeds() async {
        let result = await process(
            #"{"commandId":"c-1","correlationId":"o-1","target":"tecs-test","operation":"createUser","user":{"userName":"jdoe","email":"j@d.de"}}"#)
        #expect(result.reply.status == .succeeded)
        #expect(result.reply.vendorUserId == "jdoe")
        #expect(result.reply.vendor == "tecs")
        #expect(result.reply.correlationId == "o-1")
        #expect(result.reply.attempts == 1)
        #expect(result.deadLetter == nil)
        #expect(tecs.performed.withLock { $0 } == ["c-1"])
    }

    @Test("an unknown target is answered unknown_target and dead-lettered")
    func unknownTarget() async {
        let result = await process(#"{"commandId":"c-2","target":"nowhere","operation":"getUser","userId":"u"}"#)
        #expect(result.reply.error?.category == .unknownTarget)
        #expect(result.reply.error?.code == "UNKNOWN_TARGET")
        #expect(result.deadLetter?.category == .unknownTarget)
    }

    @Test("an operation outside the vendor's capability table never reaches the adapter")
    func unsupported() async {
        let result = await process(#"{"commandId":"c-3","target":"tecs-test","operation":"deleteUser","userId":"u"}"#)
        #expect(result.reply.error?.category == .unsupportedOperation)
        #expect(result.deadLetter == nil)
        #expect(tecs.performed.withLock { $0 }.isEmpty)
    }

    @Test("a command picked up after notAfter is answered expired without calling the vendor")
    func expired() async {
        let result = await process(
            #"{"commandId":"c-4","target":"tecs-test","operation":"assignRoles","userId":"u","roles":[{"name":"r"}],"notAfter":"2026-11-23T09:59:59Z"}"#)
        #expect(result.reply.error?.category == .expired)
        #expect(result.deadLetter == nil)
        #expect(tecs.performed.withLock { $0 }.isEmpty)
        let inTime = await process(
            #"{"commandId":"c-5","target":"tecs-test","operation":"assignRoles","userId":"u","roles":[{"name":"r"}],"notAfter":"2026-11-23T10:00:01Z"}"#)
        #expect(inTime.reply.status == .succeeded)
    }

    @Test("a dry run shows the planned request and calls nothing")
    func dryRun() async {
        let result = await process(#"{"commandId":"c-6","target":"tecs-test","operation":"createUser","user":{"email":"j@d.de"},"dryRun":true}"#)
        #expect(result.reply.status == .succeeded)
        #expect(result.reply.dryRun)
        #expect(result.reply.attempts == 0)
        #expect(result.reply.data?["request"]?["authorization"] == .string("<redacted>"))
        #expect(tecs.performed.withLock { $0 }.isEmpty)
    }

    @Test("a vendor failure in a dead-letter category is dead-lettered with the vendor's code")
    func vendorFailure() async {
        let result = await process(#"{"commandId":"c-7","target":"urac-test","operation":"getUser","userId":"u"}"#)
        #expect(result.reply.status == .failed)
        #expect(result.reply.error?.code == "132")
        #expect(result.reply.vendorResponse?.httpStatus == 403)
        #expect(result.deadLetter?.category == .unauthorized)
    }

    @Test("an invalid command is answered with what could be read, and dead-lettered")
    func invalid() async {
        let result = await process(#"{"commandId":"c-8","target":"tecs-test","operation":"createUser"}"#)
        #expect(result.reply.commandId == "c-8")
        #expect(result.reply.target == "tecs-test")
        #expect(result.reply.vendor == "tecs")
        #expect(result.reply.error?.category == .invalidCommand)
        #expect(result.reply.error?.message.contains("user") == true)
        #expect(result.deadLetter?.category == .invalidCommand)
        #expect(result.command == nil)
    }
}
