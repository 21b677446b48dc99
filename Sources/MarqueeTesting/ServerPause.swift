// SIGSTOP/SIGCONT of a test server: a hung dependency (no answer, no reset) for fault tests.

import Foundation

/// Signals a process and every process below it (PostgreSQL's backends are children of the
/// postmaster, and a stopped postmaster alone still lets them answer).
public enum ProcessTree {
    /// The pids of `pid`'s descendants, read from `/proc/*/stat` (field 4 is the parent).
    public static func descendants(of pid: Int32) -> [Int32] {
        var parents: [Int32: [Int32]] = [:]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let child = Int32(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 1, let parent = Int32(fields[1]) else { continue }
            parents[parent, default: []].append(child)
        }
        var result: [Int32] = []
        var queue = [pid]
        while let next = queue.popLast() {
            for child in parents[next] ?? [] {
                result.append(child)
                queue.append(child)
            }
        }
        return result
    }

    /// Sends `signal` to `pid` and its descendants (SIGSTOP: the parent first, so that it
    /// starts no new child meanwhile; SIGCONT: the children first).
    public static func signal(_ signal: Int32, pid: Int32) {
        let children = descendants(of: pid)
        if signal == SIGCONT {
            for child in children { kill(child, signal) }
            kill(pid, signal)
        } else {
            kill(pid, signal)
            for child in descendants(of: pid) { kill(child, signal) }
        }
    }
}

extension TestPostgres {
    /// The postmaster's pid (first line of `data/postmaster.pid`).
    public func postmasterPID() throws -> Int32 {
        let text = try String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8)
        guard let line = text.split(separator: "\n").first, let pid = Int32(line) else {
            throw TestServerError("no pid in \(directory)/data/postmaster.pid")
        }
        return pid
    }

    /// Freezes the server and its backends (SIGSTOP): connections stay open, nothing answers.
    public func pause() throws { ProcessTree.signal(SIGSTOP, pid: try postmasterPID()) }

    /// Lets a paused server run again (SIGCONT).
    public func resume() throws { ProcessTree.signal(SIGCONT, pid: try postmasterPID()) }
}

extension TestRedis {
    /// The server's pid (`redis.pid` in its directory).
    public func serverPID() throws -> Int32 {
        let text = try String(contentsOfFile: directory + "/redis.pid", encoding: .utf8)
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestServerError("no pid in \(directory)/redis.pid")
        }
        return pid
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    public func pause() throws { kill(try serverPID(), SIGSTOP) }

    /// Lets a paused server run again (SIGCONT).
    public func resume() throws { kill(try serverPID(), SIGCONT) }
}
