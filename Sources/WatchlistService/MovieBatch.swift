import ServiceKit

/// The movie service's batch answer (`POST /api/movies/batch`), kept as its bytes.
///
/// Each movie's members are located once (``JSONParser/forEachObject(inArray:_:)`` checks
/// the whole answer as strictly as parsing it would); a list or an export then copies their
/// text into its own document instead of decoding every value and encoding it again. The
/// movie service writes with the same ``JSONWriter``, so the copied text is what encoding
/// the parsed values would give.
struct MovieBatch: Sendable {
    let body: [UInt8]
    /// Every movie's members, one movie after another.
    private let members: [JSONRawMember]
    /// Where each movie is, sorted by id (found by binary search: a list's 20 lookups cost
    /// less than hashing).
    private let movies: [Located]
    /// ``summaryFields``' values of every movie, one group after another (nil: not there).
    private let summaries: [Range<Int>?]

    /// One movie: its members in ``members``, its summary's values in ``summaries``.
    private struct Located: Sendable {
        let id: Int64
        let members: Range<Int>
        let summary: Int
    }

    /// The members of a list entry's `"movie"`, in this order.
    private static let summaryNames = ["id", "title", "director", "year", "genre", "rating"]
    /// ``summaryNames`` as UTF-8, to find them among a movie's members.
    static let summaryFields: [[UInt8]] = summaryNames.map { Array($0.utf8) }
    /// ``summaryNames`` as the writer puts them.
    private static let summaryKeys = summaryNames.map(JSONKey.init)

    /// Reads an answer; nil when it is not a JSON array of objects that each have an
    /// integer `"id"`. A movie listed twice counts once (the last copy), as does a name
    /// written twice in one movie.
    init?(body: [UInt8]) {
        var members: [JSONRawMember] = []
        var movies: [Located] = []
        var summaries: [Range<Int>?] = []
        var valid = true
        do {
            try JSONParser().forEachObject(inArray: body) { element in
                guard valid else { return }
                let summary = summaries.count
                summaries.append(contentsOf: repeatElement(nil, count: Self.summaryFields.count))
                for member in element {
                    for slot in Self.summaryFields.indices
                    where member.key.count == Self.summaryFields[slot].count
                        && member.isNamed(Self.summaryFields[slot], in: body)
                    {
                        summaries[summary + slot] = member.value
                        break
                    }
                }
                guard let id = summaries[summary], let movieID = JSONParser.integer(in: body, id) else {
                    valid = false
                    return
                }
                let start = members.count
                members.append(contentsOf: element)
                movies.append(Located(id: movieID, members: start..<members.count, summary: summary))
            }
        } catch {
            return nil
        }
        guard valid else { return nil }
        self.init(body: body, members: members, movies: Self.lastOfEach(movies), summaries: summaries)
    }

    /// `movies` sorted by id, keeping the last copy of an id listed twice.
    private static func lastOfEach(_ movies: [Located]) -> [Located] {
        // `summary` grows with the position in the answer: it orders copies of one id.
        let sorted = movies.sorted { ($0.id, $0.summary) < ($1.id, $1.summary) }
        var kept: [Located] = []
        kept.reserveCapacity(sorted.count)
        for movie in sorted {
            if kept.last?.id == movie.id { kept[kept.count - 1] = movie } else { kept.append(movie) }
        }
        return kept
    }

    /// Movie `id`, by binary search; nil when the answer did not have it.
    private func find(_ id: Int64) -> Located? {
        var low = 0
        var high = movies.count
        while low < high {
            let middle = (low + high) / 2
            if movies[middle].id < id { low = middle + 1 } else { high = middle }
        }
        return low < movies.count && movies[low].id == id ? movies[low] : nil
    }

    private init(body: [UInt8], members: [JSONRawMember], movies: [Located], summaries: [Range<Int>?]) {
        self.body = body
        self.members = members
        self.movies = movies
        self.summaries = summaries
    }

    /// No movies (a list with no entries asks for none).
    static let empty = MovieBatch(body: [], members: [], movies: [], summaries: [])

    var count: Int { movies.count }

    func contains(_ id: Int64) -> Bool { find(id) != nil }

    /// Writes movie `id`'s summary (``summaryFields``, a member the movie lacks as null), or
    /// null when the answer did not have that movie.
    func writeSummary(of id: Int64, to json: inout JSONWriter) {
        guard let start = find(id)?.summary else {
            json.null()
            return
        }
        json.object { summary in
            for (slot, key) in Self.summaryKeys.enumerated() {
                summary.key(key)
                if let value = summaries[start + slot] { summary.raw(body[value]) } else { summary.null() }
            }
        }
    }

    /// Writes movie `id`'s members as the answer has them, except `excluded`, into the
    /// object being written: each name once, with its last value, at its first place (as a
    /// parsed ``JSONObject`` keeps them). Nothing when the answer did not have that movie.
    func writeMembers(of id: Int64, excluding excluded: String, to json: inout JSONWriter) {
        guard let range = find(id)?.members else { return }
        let movie = members[range]
        let excludedName = Array(excluded.utf8)
        for index in movie.indices where !movie[index].isNamed(excludedName, in: body) {
            let member = movie[index]
            if movie[movie.startIndex..<index].contains(where: { $0.hasSameName(as: member, in: body) }) { continue }
            let last = movie[index...].last { $0.hasSameName(as: member, in: body) } ?? member
            json.rawKey(body[member.key])
            json.raw(body[last.value])
        }
    }
}
