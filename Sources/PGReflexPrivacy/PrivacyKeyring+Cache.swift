import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension PrivacyKeyring {
    /// Pseudonyms and tokens made lately, by value. A protected value that repeats (an update's
    /// unchanged email, one customer's many orders) then costs a lookup instead of an HMAC and
    /// an AES-GCM-SIV seal. Safe because both are deterministic under the active key, which a
    /// keyring never changes.
    ///
    /// Direct-mapped: a value's slot is its (seeded) hash, and a value seen twice takes the slot
    /// over. So it is bounded by construction, and values that never repeat (inserts of fresh
    /// emails) cost a hash each and allocate nothing. The values it holds stay in this process's memory, as they
    /// already do while an event is encoded; nothing is written.
    final class ProtectedValueCache: Sendable {
        enum Kind: UInt8 {
            case pseudonym = 1
            case token = 2
        }

        private struct Entry {
            var plaintext: [UInt8]
            var value: String
        }

        private struct Slots {
            /// The full hash of what each slot holds (0: nothing), checked before any bytes.
            var held: [Int]
            var entries: [Entry?]
            /// The hash last seen in each slot: a value is stored the second time it is seen,
            /// so values that never repeat cost a hash and no allocation.
            var seen: [Int]
        }

        private let slots: Mutex<Slots>
        private let mask: Int

        /// `capacity`: rounded up to a power of two.
        init(capacity: Int) {
            var size = 1
            while size < capacity { size <<= 1 }
            mask = size - 1
            slots = Mutex(Slots(held: Array(repeating: 0, count: size), entries: Array(repeating: nil, count: size),
                                seen: Array(repeating: 0, count: size)))
        }

        /// The value's hash (never 0), seeded per process.
        func hash(_ kind: Kind, of plaintext: UnsafeBufferPointer<UInt8>) -> Int {
            var hasher = Hasher()
            hasher.combine(kind.rawValue)
            hasher.combine(bytes: UnsafeRawBufferPointer(plaintext))
            let hash = hasher.finalize()
            return hash == 0 ? 1 : hash
        }

        /// The cached value; nil on a miss, with whether the value is worth storing now.
        func lookup(_ plaintext: UnsafeBufferPointer<UInt8>, hash: Int) -> (value: String?, store: Bool) {
            let index = hash & mask
            return slots.withLock { slots in
                if slots.held[index] == hash, let entry = slots.entries[index],
                   entry.plaintext.withUnsafeBufferPointer({ held in
                       held.count == plaintext.count && (held.isEmpty || memcmp(held.baseAddress!, plaintext.baseAddress!, held.count) == 0)
                   }) {
                    return (entry.value, false)
                }
                if slots.seen[index] == hash { return (nil, true) }
                slots.seen[index] = hash
                return (nil, false)
            }
        }

        func store(_ plaintext: UnsafeBufferPointer<UInt8>, value: String, hash: Int) {
            let index = hash & mask
            let entry = Entry(plaintext: Array(plaintext), value: value)
            // The slot's old entry is freed after the lock is let go.
            let evicted = slots.withLock { slots in
                slots.held[index] = hash
                defer { slots.entries[index] = entry }
                return slots.entries[index]
            }
            _ = evicted
        }

        var count: Int { slots.withLock { $0.entries.reduce(0) { $0 + ($1 == nil ? 0 : 1) } } }
    }
}
