using System.CommandLine;
using AttentionWise.Tool.Cli;

namespace AttentionWise.Tool;

/// <summary>The `aw` command line. Exit codes (<see cref="ExitCodes"/>): 0 success, 1 a missing, damaged or inconsistent
/// file, a run folder in use, a model too large, or another runtime error, 2 bad command line (unknown option, model,
/// dataset or device; bad value; options that disagree with a resumed run), 3 the training loss became NaN or infinite, 75 stopped by a signal with a checkpoint written (run again to continue).
/// Every failure is one line "aw: error: …"; --verbose adds the stack trace.</summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        bool interactive = !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") is null;
        return Run(args, Console.Out, Console.Error, interactive);
    }

    /// <summary>Runs the command line with the given output streams; <paramref name="interactive"/> turns on the
    /// live progress display and colours (off: plain lines, as in CI logs and tests).</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error, bool interactive = false)
    {
        ArgumentNullException.ThrowIfNull(args);
        var io = new CliIO(output, error, interactive);
        // The boundary covers the parser and the validators too, not only the commands' bodies.
        return io.Guard(() =>
        {
            var root = BuildRoot(io);
            var parse = root.Parse(args);
            io.Verbose = parse.GetValue<bool>(VerboseOption);
            if (parse.Errors.Count > 0)
            {
                foreach (var e in parse.Errors)
                    error.WriteLine($"aw: error: {e.Message}");
                string command = parse.CommandResult.Command is RootCommand ? "aw" : $"aw {parse.CommandResult.Command.Name}";
                error.WriteLine($"Run '{command} --help' for usage.");
                return ExitCodes.Usage;
            }
            return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
        });
    }

    /// <summary>--verbose, on every command: a failure's stack trace after its message.</summary>
    private const string VerboseOption = "--verbose";

    internal static RootCommand BuildRoot(CliIO io)
    {
        var root = new RootCommand(
            "AttentionWise: train and benchmark element-wise attention networks on CUDA, OpenCL or CPU through ILGPU.\n" +
            "Exit codes: 0 success, 1 missing, damaged or inconsistent data, checkpoint or run folder, a run folder in use, or another runtime error, " +
            "2 bad command line or unknown device, 3 training loss became NaN/infinite, 75 stopped by a signal (SIGTERM, SIGUSR1) with a checkpoint written: run again to continue. Errors are one line; --verbose adds the stack trace.");
        root.Options.Add(new Option<bool>(VerboseOption)
        {
            Description = "On a failure, print the stack trace after the error message.",
            Recursive = true,
        });
        root.Subcommands.Add(TrainCommand.Build(io));
        root.Subcommands.Add(EvalCommand.Build(io));
        root.Subcommands.Add(ExportCommand.Build(io));
        root.Subcommands.Add(PredictCommand.Build(io));
        root.Subcommands.Add(ParamsCommand.Build(io));
        root.Subcommands.Add(ReproduceCommand.Build(io));
        root.Subcommands.Add(SweepCommand.Build(io));
        root.Subcommands.Add(VisualizeCommand.Build(io));
        root.Subcommands.Add(PlotCommand.Build(io));
        root.Subcommands.Add(DevicesCommand(io));
        root.Subcommands.Add(SlurmCommand.Build(io));
        return root;
    }

    private static Command DevicesCommand(CliIO io)
    {
        var devices = new Command("devices",
            "List the devices AttentionWise can run on, in the order --device N uses, and what each is for: cuda and opencl run " +
            "code ILGPU compiled; cpu runs the kernels as .NET code on all cores (the default without a GPU); cpu-sim is ILGPU's " +
            "GPU simulator (slow: for tests of GPU-shaped kernels).");
        devices.SetAction(_ => io.Guard(() =>
        {
            io.Out.WriteLine($"ILGPU: {ComputeDevice.IlgpuFlavor}");
            var list = ComputeDevice.List();
            var auto = ComputeDevice.Choose(list, "auto");
            foreach (var d in list)
            {
                io.Out.WriteLine($"{d}{(d == auto ? "   <- default (--device auto)" : "")}{Environment.NewLine}      {d.Purpose}");
                if (d.Kind == DeviceKind.Cpu)
                    io.Out.WriteLine($"      {AttentionWise.Host.Blas.Description}; vector passes: {AttentionWise.Host.Simd.Describe(AttentionWise.Host.Simd.Best)}");
            }
            return ExitCodes.Ok;
        }));
        return devices;
    }
}

/// <summary>The output streams of one command-line invocation and its error boundary.</summary>
internal sealed class CliIO
{
    public CliIO(TextWriter output, TextWriter error, bool interactive)
    {
        Out = output;
        Error = error;
        Interactive = interactive;
    }

    public TextWriter Out { get; }
    public TextWriter Error { get; }
    public bool Interactive { get; }

    /// <summary>Whether a failure prints its stack trace (--verbose).</summary>
    public bool Verbose { get; set; }

    /// <summary>Runs a command body; whatever it throws becomes one "aw: error:" line and an exit code (see <see cref="ErrorBoundary"/>).</summary>
    public int Guard(Func<int> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            return body();
        }
        catch (Exception e)
        {
            return Fail(e);
        }
    }

    /// <summary>Reports a failure: its message, and with --verbose its stack trace.</summary>
    public int Fail(Exception e)
    {
        var (code, message) = ErrorBoundary.Describe(e);
        Fail(code, message);
        if (Verbose)
        {
            try
            {
                Error.WriteLine(e.ToString());
            }
            catch (IOException)
            {
            }
        }
        return code;
    }

    public int Fail(int code, string message)
    {
        try
        {
            Out.Flush();
        }
        catch (IOException)
        {
            // stdout is gone (a closed pipe): the message still goes to stderr.
        }
        try
        {
            Error.WriteLine($"aw: error: {message}");
        }
        catch (IOException)
        {
        }
        return code;
    }
}
