using System.Globalization;
using System.Runtime.InteropServices;

namespace AttentionWise.Tool.Cli;

/// <summary>
/// The signals that stop a training cleanly: while a <see cref="StopSignals"/> is alive, SIGTERM and SIGUSR1 (and the
/// signal named with --stop-signal) no longer end the process; they cancel <see cref="Token"/>, and the training loop
/// stops at the next step boundary with a checkpoint there (exit code <see cref="ExitCodes.Stopped"/>). SIGTERM is what
/// Slurm, Kubernetes and systemd send before they kill; Slurm's <c>--signal</c> can send SIGUSR1 ahead of a time limit.
/// SIGINT (Ctrl+C) keeps its usual meaning: the process ends at once, and the run keeps its last checkpoint (name INT
/// with --stop-signal to make Ctrl+C stop cleanly too).
/// </summary>
internal sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly List<PosixSignalRegistration> _registrations = [];
    private readonly Dictionary<PosixSignal, string> _names = [];

    /// <summary>The names --stop-signal accepts.</summary>
    public static readonly IReadOnlyList<string> Names = ["TERM", "USR1", "USR2", "INT", "HUP", "QUIT", "XCPU", "ALRM"];

    public StopSignals(string? extra = null)
    {
        _names[PosixSignal.SIGTERM] = "SIGTERM";
        if (Number("USR1") is PosixSignal usr1)
            _names[usr1] = "SIGUSR1";
        if (extra is not null)
        {
            var named = Number(extra) ?? throw new UsageException($"--stop-signal {extra} is not a signal this system can catch; one of: {string.Join(", ", Names)}.");
            string text = extra.Trim().ToUpperInvariant();
            _names.TryAdd(named, text.All(char.IsAsciiDigit) ? "signal " + text : text.StartsWith("SIG", StringComparison.Ordinal) ? text : "SIG" + text);
        }
        foreach (var s in _names.Keys)
        {
            try
            {
                _registrations.Add(PosixSignalRegistration.Create(s, Handle));
            }
            catch (Exception e) when (e is PlatformNotSupportedException or IOException)
            {
                // A signal this platform cannot catch (Windows knows only a few): the others still work.
            }
        }
    }

    /// <summary>Cancelled by the first stop signal.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>The signal's number on this system, or null when it has none that can be caught here. Raw numbers are
    /// Linux's (and macOS's, where they differ); the portable ones come from <see cref="PosixSignal"/>.</summary>
    public static PosixSignal? Number(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        string n = name.Trim().ToUpperInvariant();
        if (n.StartsWith("SIG", StringComparison.Ordinal))
            n = n[3..];
        bool mac = OperatingSystem.IsMacOS();
        int? raw = n switch
        {
            "TERM" => (int)PosixSignal.SIGTERM,
            "INT" => (int)PosixSignal.SIGINT,
            "HUP" => (int)PosixSignal.SIGHUP,
            "QUIT" => (int)PosixSignal.SIGQUIT,
            "USR1" when !OperatingSystem.IsWindows() => mac ? 30 : 10,
            "USR2" when !OperatingSystem.IsWindows() => mac ? 31 : 12,
            "XCPU" when !OperatingSystem.IsWindows() => 24,
            "ALRM" when !OperatingSystem.IsWindows() => 14,
            _ => int.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out int k) && k is > 0 and < 65 && k != 9 && k != 19 ? k : null,
        };
        return raw is int r ? (PosixSignal)r : null;
    }

    private void Handle(PosixSignalContext context)
    {
        // The default action (ending the process) is cancelled: the training ends itself at the next step.
        context.Cancel = true;
        try
        {
            Console.Error.WriteLine($"aw: {_names.GetValueOrDefault(context.Signal, context.Signal.ToString())} received: stopping at the next step boundary and writing a checkpoint there");
        }
        catch (IOException)
        {
        }
        _source.Cancel();
    }

    public void Dispose()
    {
        foreach (var r in _registrations)
            r.Dispose();
        _source.Dispose();
    }
}
