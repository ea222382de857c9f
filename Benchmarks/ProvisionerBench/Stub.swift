import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The trivial vendor of the peer comparison: answers every POST with a TECS success, at once or
/// after `--latency`, so that the workers are measured on their own plumbing, not a simulator's.
struct Stub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A TECS stand-in answering every call with success, at once or after a fixed delay.")

    @Option var port = 0

    @Option(help: "Answer each request this many milliseconds after it arrived (scheduled on the event loop, which never blocks).")
    var latency = 0

    func validate() throws {
        guard latency >= 0 else { throw ValidationError("--latency must be 0 or more milliseconds") }
    }

    func run() async throws {
        let delay: TimeAmount? = latency > 0 ? .milliseconds(Int64(latency)) : nil
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap { channel.pipeline.addHandler(StubHandler(delay: delay)) }
            }
            .bind(host: "127.0.0.1", port: port).get()
        // Unbuffered: the benchmark reads this line from a pipe while the stub runs.
        FileHandle.standardOutput.write(
            Data("stub listening on 127.0.0.1:\(channel.localAddress?.port ?? 0), latency \(latency) ms\n".utf8))
        try await channel.closeFuture.get()
    }
}

/// One fixed answer per request, keep-alive; after `delay` when there is one.
private final class StubHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private let delay: TimeAmount?
    private var next = 0
    /// Answers not written yet (one at a time per connection: the server pipeline holds the next).
    private var pending: [Int: Scheduled<Void>] = [:]

    init(delay: TimeAmount?) { self.delay = delay }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        next += 1
        let consumerId = next
        guard let delay else { return answer(context: context, consumerId: consumerId) }
        // The answer is a timer on the connection's own event loop: no thread waits, and the
        // server pipeline holds a keep-alive connection's next request until this one's end.
        pending[consumerId] = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            pending[consumerId] = nil
            answer(context: context, consumerId: consumerId)
        }
    }

    /// A connection closed before its answer: the timer must not write through a dead context.
    func handlerRemoved(context: ChannelHandlerContext) {
        for task in pending.values { task.cancel() }
        pending = [:]
    }

    private func answer(context: ChannelHandlerContext, consumerId: Int) {
        let body = #"{"responseCode":0,"responseMessage":"OK","consumerId":"\#(consumerId)"}"#
        var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", "\(body.utf8.count)")])
        headers.add(name: "Connection", value: "keep-alive")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}
