/// The dynamic table of RFC 7541 §2.3.2 and §4: newest entry first in index order, sized by
/// ``HPACKHeaderField/size``, oldest entries evicted to make room.
struct HPACKDynamicTable: Sendable {
    /// Oldest first; index 1 (RFC 7541's 62) is the last element.
    private var entries: [HPACKHeaderField] = []
    /// Evicted entries at the front of `entries`, removed in batches rather than one by one.
    private var evicted = 0
    private(set) var size = 0
    private(set) var maxSize: Int

    init(maxSize: Int) {
        self.maxSize = maxSize
    }

    var count: Int { entries.count - evicted }

    /// The entry at `index` (1 = newest), or nil past the end.
    func entry(at index: Int) -> HPACKHeaderField? {
        guard index >= 1, index <= count else { return nil }
        return entries[entries.count - index]
    }

    /// Adds `field` as the newest entry, evicting the oldest until it fits; a field larger
    /// than the whole table empties it and is not added (RFC 7541 §4.4).
    mutating func insert(_ field: HPACKHeaderField) {
        let fieldSize = field.size
        evict(toFit: maxSize - fieldSize)
        guard fieldSize <= maxSize else { return }
        entries.append(field)
        size += fieldSize
    }

    /// A new maximum size (a dynamic table size update), evicting what no longer fits.
    mutating func resize(to newMaxSize: Int) {
        maxSize = newMaxSize
        evict(toFit: newMaxSize)
    }

    /// The lowest index (1 = newest) whose name and value match, else the lowest whose name matches.
    func find(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> (index: Int, fullMatch: Bool)? {
        // Through the storage, lengths first: no entry is copied (retained) to be compared.
        entries.withUnsafeBufferPointer { entries in
            var nameIndex: Int?
            var index = 0
            for position in stride(from: entries.count - 1, through: evicted, by: -1) {
                index += 1
                guard entries[position].name.count == name.count,
                    entries[position].name.withUnsafeBytes({ HPACKPrimitives.equal($0, name) })
                else { continue }
                if entries[position].value.withUnsafeBytes({ HPACKPrimitives.equal($0, value) }) { return (index, true) }
                if nameIndex == nil { nameIndex = index }
            }
            return nameIndex.map { ($0, false) }
        }
    }

    private mutating func evict(toFit limit: Int) {
        while size > max(limit, 0), evicted < entries.count {
            size -= entries[evicted].size
            evicted += 1
        }
        if evicted == entries.count {
            entries.removeAll(keepingCapacity: true)
            evicted = 0
        } else if evicted >= 32 {
            entries.removeFirst(evicted)
            evicted = 0
        }
    }
}
