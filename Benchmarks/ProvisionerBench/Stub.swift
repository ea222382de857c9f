import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The trivial vendor of the peer comparison: answers every POST at once with a TECS success,
/// so that provisioner and the peer worker are measured on their own plumbing, not a simulator's.
struct Stub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A TECS stand-in answering every call with success at once.")

    @Option var port = 0

    func run() async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(StubHandler()) }
            }
            .bind(host: "127.0.0.1", port: port).get()
        // Unbuffered: the benchmark reads this line from a pipe while the stub runs.
        FileHandle.standardOutput.write(Data("stub listening on 127.0.0.1:\(channel.localAddress?.port ?? 0)\n".utf8))
        try await channel.closeFuture.get()
    }
}

/// One fixed answer per request, keep-alive.
private final class StubHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private var next = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        next += 1
        let body = #"{"responseCode":0,"responseMessage":"OK","consumerId":"\#(next)"}"#
        var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "\(body.utf8.count)")])
        headers.add(name: "Connection", value: "keep-alive")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
