using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Tool.Cli;

/// <summary>Options shared by commands, with validators that name the valid choices.</summary>
internal static class CliOptions
{
    public static Option<string> Model(string description) => Choice("--model", description, ModelRegistry.Names, "model");

    public static Option<string> Dataset(string description) => Choice("--dataset", description, Datasets.AllNames, "dataset", Datasets.IsKnown);

    public static Option<string> Device() => new("--device")
    {
        Description = "Device: auto (CUDA, then OpenCL, then CPU), cuda, opencl, cpu, cpu-sim (ILGPU's GPU simulator: slow, for tests), or a number from 'aw devices'.",
        DefaultValueFactory = _ => "auto",
        HelpName = "auto|cuda|opencl|cpu|cpu-sim|N",
    };

    public static Option<string> Data() => new("--data")
    {
        Description = $"Directory with the dataset files (Fashion-MNIST default: {FashionMnist.DefaultDirectory}; CIFAR-10: required, the binary version's .bin files; " +
                      "image-folder: required, DIR/train/<class>/*.png|*.jpg and DIR/test/<class>/…, chosen by itself when DIR has a train folder).",
        HelpName = "DIR",
    };

    /// <summary>--channels, --resize and --val-split: how an image folder is read.</summary>
    public static (Option<int> Channels, Option<string> Resize, Option<double> ValSplit) ImageFolderOptions()
    {
        var channels = new Option<int>("--channels")
        {
            Description = "Image folders: 1 (grayscale) or 3 (RGB). Default: 1 when every image is stored as grayscale, else 3.",
            HelpName = "1|3",
        };
        channels.Validators.Add(r => Check(r, channels, v => v is 1 or 3, "1 or 3"));
        var resize = new Option<string>("--resize")
        {
            Description = "Image folders: resize every image to H×W pixels (bilinear). Default: none; the images must then all have one size.",
            HelpName = "HxW",
        };
        resize.Validators.Add(r =>
        {
            if (!r.Implicit && r.GetValueOrDefault<string>() is string v && ImageSize.Parse(v) is null)
                r.AddError($"--resize must be HxW with sides from 1 to {ImageFolder.MaxSide} (e.g. 32x32), not '{v}'.");
        });
        var valSplit = new Option<double>("--val-split")
        {
            Description = "Image folders without a test folder: hold out this fraction of each class (a fixed-seed choice, the same in every run) as the test set.",
            HelpName = "F",
        };
        valSplit.Validators.Add(r => Check(r, valSplit, v => v > 0 && v < 1, "a fraction between 0 and 1 (exclusive)"));
        return (channels, resize, valSplit);
    }

    public static Option<string> StopSignal() => new("--stop-signal")
    {
        Description = "A signal that stops the training cleanly, besides SIGTERM and SIGUSR1: at the next step boundary, with a checkpoint there, exit code 75 " +
                      $"(run the command again to continue). One of {string.Join(", ", StopSignals.Names)} or a number. SIGINT (Ctrl+C) otherwise ends the process at once.",
        HelpName = "SIGNAL",
    };

    public static Option<string> Task() => new("--task")
    {
        Description = "Train only this task's share of the configurations: task I of N (0-based) takes configurations I, I+N, I+2N, … in order. " +
                      "Without it: SLURM_ARRAY_TASK_ID (counted from SLURM_ARRAY_TASK_MIN) of SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX of --tasks N. " +
                      "A configuration already done is kept, an interrupted one resumes; the report step writes the CSV.",
        HelpName = "I/N",
    };

    public static Option<int> Tasks() => Positive("--tasks", "Number of tasks, for JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's completions) or to override SLURM_ARRAY_TASK_COUNT.");

    public static Option<string> Devices() => new("--devices")
    {
        Description = "Run the configurations on several devices of this machine at once: one process per device (comma list of --device values, e.g. 0,1 or cuda,cuda), " +
                      "each as task i of N, then the report.",
        HelpName = "D0,D1,…",
    };

    /// <summary>This task's share (<see cref="Reproduction.Shard.Resolve"/>); a malformed value is a usage error.</summary>
    public static Reproduction.Shard? Shard(ParseResult parse, Option<string> task, Option<int> tasks)
    {
        try
        {
            return Reproduction.Shard.Resolve(Given(parse, task), Given(parse, tasks), Environment.GetEnvironmentVariable);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
    }

    public static Option<int> Positive(string name, string description, string helpName = "N")
    {
        var o = new Option<int>(name) { Description = description, HelpName = helpName };
        o.Validators.Add(r => Check(r, o, v => v >= 1, "at least 1"));
        return o;
    }

    public static Option<int> NonNegative(string name, string description, string helpName = "N")
    {
        var o = new Option<int>(name) { Description = description, HelpName = helpName };
        o.Validators.Add(r => Check(r, o, v => v >= 0, "0 or more"));
        return o;
    }

    public static Option<float> PositiveFloat(string name, string description)
    {
        var o = new Option<float>(name) { Description = description, HelpName = "RATE" };
        o.Validators.Add(r => Check(r, o, v => v > 0 && float.IsFinite(v), "a positive number"));
        return o;
    }

    /// <summary>The value when the option was given on the command line, else null.</summary>
    public static T? Given<T>(ParseResult parse, Option<T> option) where T : struct =>
        parse.GetResult(option) is { Implicit: false } ? parse.GetValue(option) : null;

    public static string? Given(ParseResult parse, Option<string> option) =>
        parse.GetResult(option) is { Implicit: false } ? parse.GetValue(option) : null;

    private static Option<string> Choice(string name, string description, IReadOnlyList<string> choices, string what, Func<string, bool>? accepts = null)
    {
        var o = new Option<string>(name) { Description = $"{description} One of: {string.Join(", ", choices)}.", HelpName = what.ToUpperInvariant() };
        o.Validators.Add(r =>
        {
            string? v = r.GetValueOrDefault<string>();
            if (v is not null && !(accepts?.Invoke(v) ?? choices.Contains(v.Trim().ToLowerInvariant())))
                r.AddError($"Unknown {what} '{v}' for {name}. Valid {what}s: {string.Join(", ", choices)}.");
        });
        return o;
    }

    private static void Check<T>(OptionResult r, Option<T> o, Func<T, bool> ok, string expected)
    {
        if (r.Implicit)
            return;
        T v;
        try
        {
            v = r.GetValueOrDefault<T>();
        }
        catch (InvalidOperationException)
        {
            return; // not a number: the parser reports it
        }
        if (v is not null && !ok(v))
            r.AddError(string.Create(CultureInfo.InvariantCulture, $"{o.Name} must be {expected}, not {v}."));
    }
}
