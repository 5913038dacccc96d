using System.Reflection;
using AttentionWise.Training;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;

namespace AttentionWise.Tool.Cli;

/// <summary>
/// The one place where a failure becomes what the user sees: a one-line message (after "aw: error: ") and an exit
/// code. Every command runs inside it, and nothing escapes it: the training layer's own exceptions are worded with the
/// command line's option names here; bad files and runtime errors, ILGPU's exceptions among them, are exit 1; usage
/// errors exit 2. Anything not foreseen is still one line, with its type; --verbose adds the stack trace.
/// </summary>
internal static class ErrorBoundary
{
    /// <summary>The exit code and message of a failure.</summary>
    public static (int Code, string Message) Describe(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        e = Unwrap(e);
        return e switch
        {
            InvalidRequestException r => (ExitCodes.Usage, string.Join(" ", r.Problems.Select(p => InvalidRequestException.Sentence($"{Option(p.Setting)} {p.Text}")))),
            ResumeConflictException c => (ExitCodes.Usage,
                $"--resume continues a run with its own settings; these options disagree with them: {string.Join("; ", c.Conflicts.Select(x => $"{Option(x.Setting)} {x.Given} (the run has {x.Saved})"))}."),
            RunExistsException x => (ExitCodes.Usage, $"The run directory {x.RunDirectory} already holds a run: pass --resume to continue it, or choose another --run."),
            RunInUseException u => (ExitCodes.Error,
                $"{u.RunDirectory} is in use: {u.Holder} holds its lock ({u.LockPath}) and is training that run. Nothing was changed; wait for that process to end, or choose another --run."),
            TrainingException t => (ExitCodes.Error, t.Message),
            DeviceNotFoundException d => (ExitCodes.Usage, d.Message),
            UsageException u => (ExitCodes.Usage, u.Message),
            DatasetException d => (ExitCodes.Error, d.Message),
            CheckpointException c => (ExitCodes.Error, c.Message),
            Training.Export.OnnxExportException x => (ExitCodes.Error, x.Message),
            Microsoft.ML.OnnxRuntime.OnnxRuntimeException o => (ExitCodes.Error, $"ONNX Runtime: {OneLine(o.Message)}"),
            InvalidDataException d => (ExitCodes.Error, OneLine(d.Message)),
            IOException or UnauthorizedAccessException => (ExitCodes.Error, OneLine(e.Message)),
            OutOfMemoryException => (ExitCodes.Error,
                $"out of memory ({OneLine(e.Message)}): the model, its batch or the data set needs more memory than this process can have; " +
                "a smaller --batch-size or --micro-batch, fewer images (--train-limit, --test-limit) or a smaller model needs less."),
            _ when IsIlgpu(e) => (ExitCodes.Error, $"the device failed: {e.GetType().Name}: {OneLine(e.Message)}"),
            _ => (ExitCodes.Error, $"unexpected {e.GetType().Name}: {OneLine(e.Message)} (--verbose shows where it happened)"),
        };
    }

    /// <summary>The command-line option of a setting.</summary>
    public static string Option(RunSetting setting) => setting switch
    {
        RunSetting.Model => "--model",
        RunSetting.Dataset => "--dataset",
        RunSetting.Epochs => "--epochs",
        RunSetting.BatchSize => "--batch-size",
        RunSetting.LearningRate => "--lr",
        RunSetting.AttentionLearningRate => "--attention-lr",
        RunSetting.Seed => "--seed",
        RunSetting.DataDirectory => "--data",
        RunSetting.Run => "--run",
        RunSetting.RunsDirectory => "--runs-dir",
        RunSetting.TrainLimit => "--train-limit",
        RunSetting.TestLimit => "--test-limit",
        RunSetting.MicroBatch => "--micro-batch",
        RunSetting.Channels => "--channels",
        RunSetting.Resize => "--resize",
        RunSetting.ValSplit => "--val-split",
        _ => "the attention options (--heads, --layers, --post-conv-bn, --no-skip, --head-bias)",
    };

    /// <summary>Whether an exception is ILGPU's own (a compiler, accelerator or runtime error of the device).</summary>
    private static bool IsIlgpu(Exception e) =>
        e.GetType().Namespace is string ns && (ns == "ILGPU" || ns.StartsWith("ILGPU.", StringComparison.Ordinal));

    private static Exception Unwrap(Exception e)
    {
        while (true)
        {
            switch (e)
            {
                case AggregateException { InnerExceptions.Count: > 0 } a:
                    e = a.InnerExceptions[0];
                    continue;
                case TargetInvocationException { InnerException: { } inner }:
                    e = inner;
                    continue;
                case TypeInitializationException { InnerException: { } inner2 }:
                    e = inner2;
                    continue;
                default:
                    return e;
            }
        }
    }

    private static string OneLine(string s) =>
        string.Join(" ", s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
