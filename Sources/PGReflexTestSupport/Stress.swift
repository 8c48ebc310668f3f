import Foundation

/// The scale of the heavy tests: `PGREFLEX_STRESS=full` (`.ci/nightly`) runs the full sizes,
/// anything else (CI, a developer's `swift test`) the small ones, which still cross every
/// boundary the test is about (chunks, segments, spills, batches).
public enum Stress {
    public static let isFull: Bool = ["full", "1", "yes"].contains(ProcessInfo.processInfo.environment["PGREFLEX_STRESS"] ?? "")

    /// `small` normally, `full` under `PGREFLEX_STRESS=full`.
    public static func size(small: Int, full: Int) -> Int { isFull ? full : small }

    /// The items of a parameterized test: all under `PGREFLEX_STRESS=full`, else the first.
    public static func cases<T>(_ all: [T]) -> [T] { isFull ? all : Array(all.prefix(1)) }
}
