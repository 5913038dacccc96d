using System.CommandLine;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Cli;
using AttentionWise.Training.Data;
using AttentionWise.Training.Training;

namespace AttentionWise.Training;

/// <summary>The `aw` command line. Exit codes: 0 success, 1 missing or corrupt data or checkpoint (or another
/// runtime error), 2 bad command line (unknown option, model, dataset or device; bad value), 3 the training
/// loss became NaN or infinite.</summary>
public static class Program
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
        var root = BuildRoot(io);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors)
                error.WriteLine($"aw: error: {e.Message}");
            string command = parse.CommandResult.Command is RootCommand ? "aw" : $"aw {parse.CommandResult.Command.Name}";
            error.WriteLine($"Run '{command} --help' for usage.");
            return ExitCodes.Usage;
        }
        return parse.Invoke(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false });
    }

    internal static RootCommand BuildRoot(CliIO io)
    {
        var root = new RootCommand(
            "AttentionWise: train and benchmark element-wise attention networks on CUDA, OpenCL or CPU through ILGPU.\n" +
            "Exit codes: 0 success, 1 missing or corrupt data or checkpoint, 2 bad command line or unknown device, 3 training loss became NaN/infinite.");
        root.Subcommands.Add(TrainCommand.Build(io));
        root.Subcommands.Add(EvalCommand.Build(io));
        root.Subcommands.Add(ParamsCommand.Build(io));
        root.Subcommands.Add(ReproduceCommand.Build(io));
        root.Subcommands.Add(SweepCommand.Build(io));
        root.Subcommands.Add(VisualizeCommand.Build(io));
        root.Subcommands.Add(PlotCommand.Build(io));
        root.Subcommands.Add(DevicesCommand(io));
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
                    io.Out.WriteLine($"      {AttentionWise.Host.HostPasses.Description}");
            }
            return ExitCodes.Ok;
        }));
        return devices;
    }
}

/// <summary>The output streams of one command-line invocation and the error-to-exit-code mapping.</summary>
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

    /// <summary>Runs a command body, turning the errors a user can cause into a message and an exit code.</summary>
    public int Guard(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (UsageException e)
        {
            return Fail(ExitCodes.Usage, e.Message);
        }
        catch (DeviceNotFoundException e)
        {
            return Fail(ExitCodes.Usage, e.Message);
        }
        catch (DatasetException e)
        {
            return Fail(ExitCodes.Error, e.Message);
        }
        catch (CheckpointException e)
        {
            return Fail(ExitCodes.Error, e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Fail(ExitCodes.Error, e.Message);
        }
    }

    public int Fail(int code, string message)
    {
        Out.Flush();
        Error.WriteLine($"aw: error: {message}");
        return code;
    }
}
