import Hummingbird
import Logging
import ProvisioningContract

/// Serves `BrokerControl` over HTTP on 127.0.0.1 (never another address: the API takes
/// brokers down for whoever asks).
public enum BrokerControlServer {
    /// The largest request body read; the API's bodies are a few fields.
    static let maximumBodySize = 64 << 10

    /// `listening` is told the bound port (the one asked for, or the kernel's pick for 0).
    public static func application(
        control: BrokerControl, port: Int, logger: Logger, listening: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        let responder = CallbackResponder { (request: Request, _: BasicRequestContext) in
            let body: [UInt8]
            do {
                body = Array(buffer: try await request.body.collect(upTo: maximumBodySize))
            } catch {
                return response(.badRequest("body", "the body is larger than \(maximumBodySize) bytes"))
            }
            let path = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
            let answer = control.handle(method: request.method.rawValue, path: path, body: body)
            logger.info(
                "control call",
                metadata: ["method": "\(request.method.rawValue)", "path": "\(request.uri.path)", "status": "\(answer.status)"])
            return response(answer)
        }
        return Application(
            responder: responder,
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port), serverName: "provisioner-broker"),
            onServerRunning: { channel in await listening(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    private static func response(_ answer: BrokerControl.Answer) -> Response {
        var bytes: [UInt8] = []
        JSONWriter.append(answer.body, to: &bytes)
        bytes.append(UInt8(ascii: "\n"))
        return Response(
            status: HTTPResponse.Status(code: answer.status), headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
