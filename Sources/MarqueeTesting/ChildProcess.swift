import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a command-line tool to completion for tests (pg_ctl, redis-server, openssl, curl).
///
/// posix_spawn and waitpid on the calling thread, not Foundation's `Process`: its exit
/// detection needs a thread of its own that a busy test process may not give it (seen: a
/// `waitUntilExit` that never returned, beside a zombie child).
public enum ChildProcess {
    /// Runs `executable arguments...` with stdin from `stdinPath` (or /dev/null), for at most
    /// `timeout` (a generous bound: past it the tool is killed and named).
    /// - Returns: the exit status (128 + n when killed by signal n) and stdout and stderr together.
    /// - Throws: `TestServerError` when the process cannot be started or runs past `timeout`.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], stdinPath: String? = nil,
        timeout: Duration = .seconds(120)
    ) throws -> (status: Int32, output: String) {
        // Output goes to a file, not a pipe: a daemon started by the command could inherit a pipe
        // and keep it open, and reading it to the end would then never finish.
        let outputPath = "\(NSTemporaryDirectory())/marquee-run-\(getpid())-\(UUID().uuidString)"
        let outputFD = open(outputPath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard outputFD >= 0 else { throw TestServerError("cannot create \(outputPath): errno \(errno)") }
        defer {
            close(outputFD)
            unlink(outputPath)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 1)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 2)

        // The child must not inherit this thread's blocked signals or the ignored SIGPIPE: a
        // redis-server started with SIGTERM blocked (as test threads may have it) ignores
        // `redis-server stop` until the SIGKILL 10 s later.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        // strdup'd C strings, freed once the child has been spawned (posix_spawn copies them).
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard spawned == 0 else {
            throw TestServerError("cannot run \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            if reaped < 0 {
                guard errno == EINTR else { throw TestServerError("waitpid(\(executable)) failed: errno \(errno)") }
                continue
            }
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
                let command = ([executable] + arguments).joined(separator: " ")
                throw TestServerError("`\(command)` still running after \(timeout): killed; its output:\n\(output)")
            }
            usleep(5_000)
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // WIFEXITED / WEXITSTATUS are macros, not imported.
        let exited = status & 0x7f == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
    }
}
