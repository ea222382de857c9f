import ServiceLifecycle

extension Redrive {
    /// The redrive as a `Service`, for a command's `ServiceGroup`: `run()` runs it to its end,
    /// and a graceful shutdown (SIGINT or SIGTERM, say) cancels it, so that its audit record says
    /// cancelled and names exactly what was sent. The record is `auditRecord` afterwards.
    public var service: some Service { RedriveService(redrive: self) }
}

private struct RedriveService: Service {
    let redrive: Redrive

    func run() async {
        let redrive = self.redrive
        _ = await withGracefulShutdownHandler {
            await redrive.run()
        } onGracefulShutdown: {
            redrive.cancel()
        }
    }
}
