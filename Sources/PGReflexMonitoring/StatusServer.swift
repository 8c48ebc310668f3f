public import Hummingbird
public import Logging
import NIOCore
import PGReflexWire
public import PGReflexStatus
public import Prometheus
import Foundation

/// `server:`: the operator's HTTP endpoints, served by Hummingbird beside capture and delivery.
/// - `/metrics`: Prometheus text, from the swift-metrics registry;
/// - `/healthz`: liveness (the process answers);
/// - `/readyz`: 200 only while capture streams, otherwise 503 and the reason;
/// - `/`: the status page; `/status.json`: the same report for scripts;
/// - `/change?q=…`: what happened to a change (an event id, or `schema.table:key`), and
///   `/route/NAME`: a route's latest calls and dead letters, each linking to its change.
public enum StatusServer {
    /// The server as a `Service` for the run's `ServiceGroup`. `onBound` gets the port.
    public static func application(
        settings: ServerSettings, status: PipelineStatus, registry: PrometheusCollectorRegistry, pages: ChangePages? = nil, logger: Logger,
        onBound: @escaping @Sendable (Int) -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        router.get("healthz") { _, _ -> Response in
            text("ok\n")
        }
        router.get("readyz") { _, _ -> Response in
            let (ready, reason) = status.readiness
            return text((ready ? "ready: " : "not ready: ") + reason + "\n", status: ready ? .ok : .serviceUnavailable)
        }
        router.get("status.json") { _, _ -> Response in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let data = (try? encoder.encode(status.report(now: wallMicros()))) ?? Data("{}".utf8)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        router.get("/") { _, _ -> Response in
            let now = wallMicros()
            return html(status.report(now: now).html(now: now))
        }
        if let pages { route(pages, on: router, logger: logger) }
        var serverLogger = logger
        serverLogger.logLevel = max(logger.logLevel, .notice)  // no line per request
        return Application(router: router, configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "pgreflex"),
                           onServerRunning: { channel in
                               let port = channel.localAddress?.port ?? settings.port
                               logger.notice("status server listening: /metrics, /healthz, /readyz, /", metadata: [
                                   "server.host": "\(settings.host)", "server.port": "\(port)",
                               ])
                               onBound(port)
                           },
                           logger: serverLogger)
    }

    static func route(_ pages: ChangePages, on router: Router<BasicRequestContext>, logger: Logger) {
        router.get("change") { request, _ -> Response in
            let query = request.uri.queryParameters.get("q") ?? ""
            do {
                guard let traces = try await pages.changes(query) else {
                    return html(ChangeTrace.htmlPage([], query: query, problem: query.isEmpty
                        ? "Give an event id (0000000001a2b3c8-00000003) or schema.table:key (public.orders:1234)."
                        : "\(query) is neither an event id (0000000001a2b3c8-00000003) nor schema.table:key (public.orders:1234)."),
                        status: .badRequest)
                }
                return html(ChangeTrace.htmlPage(traces, query: query), status: traces.isEmpty ? .notFound : .ok)
            } catch {
                logger.warning("the change page could not be built", metadata: ["error": "\(error)"])
                return html(ChangeTrace.htmlPage([], query: query, problem: "The journal or the state store could not be read: \(error)"),
                            status: .internalServerError)
            }
        }
        router.get("route/:name") { _, context -> Response in
            let name = context.parameters.get("name") ?? ""
            do {
                guard let activity = try await pages.route(name) else {
                    return html(ChangeTrace.htmlPage([], query: "", problem: "No route \(name) in this configuration."), status: .notFound)
                }
                return html(activity.html)
            } catch {
                logger.warning("the route page could not be built", metadata: ["error": "\(error)"])
                return html(ChangeTrace.htmlPage([], query: "", problem: "The state store could not be read: \(error)"), status: .internalServerError)
            }
        }
    }

    static func html(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func text(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func wallMicros() -> Int64 {
        PostgresTimestamp.now().unixMicroseconds
    }
}
