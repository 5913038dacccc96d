using AttentionWise.Training;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;

namespace AttentionWise.Tool.Reproduction;

/// <summary>What `aw reproduce` was asked for.</summary>
internal sealed record ReproduceRequest
{
    /// <summary>The rows to train, in table order.</summary>
    public required IReadOnlyList<Table1Row> Rows { get; init; }

    /// <summary>Whether --models named the rows (then a CIFAR-10 row without data is an error, not a skip).</summary>
    public bool RowsNamed { get; init; }

    public required Budget Budget { get; init; }
    public string? Device { get; init; }

    /// <summary>Fashion-MNIST directory (null: the Debian package's).</summary>
    public string? FashionData { get; init; }

    /// <summary>CIFAR-10 directory as given with --cifar-data (null: look in <see cref="FashionData"/>).</summary>
    public string? CifarData { get; init; }

    public string OutDirectory { get; init; } = "reports";
    public string RunsDirectory { get; init; } = "runs";
    public bool Force { get; init; }

    /// <summary>This task's share of <see cref="Rows"/> (null: every row, and the report is written at the end). A task
    /// writes no report: `aw reproduce --report-only` does, once every task has ended.</summary>
    public Shard? Shard { get; init; }

    /// <summary>Cancelled by a stop signal: the row in training stops with a checkpoint and the reproduction ends.</summary>
    public CancellationToken Stop { get; init; }
}

/// <summary>What one invocation did with one row.</summary>
internal enum RowAction
{
    Trained,
    Resumed,
    AlreadyDone,
    Skipped,
    Failed,

    /// <summary>A stop signal stopped its training; its checkpoint resumes next time.</summary>
    Stopped,
}

/// <summary>The end of `aw reproduce`: the report's rows, the files written (null for a task of a sharded run, which writes
/// no report) and what went wrong (if anything).</summary>
internal sealed record ReproduceOutcome(
    IReadOnlyList<Table1Result> Results,
    IReadOnlyDictionary<string, RowAction> Actions,
    string? MarkdownPath,
    string? CsvPath,
    IReadOnlyList<string> Problems,
    string DeviceName)
{
    /// <summary>Whether a stop signal ended it (exit code 75).</summary>
    public bool Stopped => Actions.Values.Contains(RowAction.Stopped);
}

/// <summary>
/// Trains the rows of the paper's Table 1 through the same training loop as `aw train` (one normal run folder per row,
/// table1-&lt;key&gt; plus a budget suffix), continuing where a previous invocation stopped, then writes the report.
/// A row whose loss goes non-finite is a result; the next row is trained anyway.
/// </summary>
internal static class Reproducer
{
    /// <param name="request">What to train.</param>
    /// <param name="train">Runs one training request (the command line shows its progress).</param>
    /// <param name="line">Writes one progress line.</param>
    public static ReproduceOutcome Run(ReproduceRequest request, Func<TrainRequest, TrainingOutcome> train, Action<string> line)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(line);
        var budget = request.Budget;
        // A wrong --device is a usage error before anything is trained.
        var device = ComputeDevice.Choose(ComputeDevice.List(), request.Device);

        var skips = new Dictionary<string, string>(StringComparer.Ordinal);
        var problems = new List<string>();
        var notes = new List<string>();
        string? cifarDir = ResolveCifar(request, skips, notes);
        foreach (var n in notes)
            line(n);

        var actions = new Dictionary<string, RowAction>(StringComparer.Ordinal);
        foreach (var r in request.Rows.Where(r => skips.ContainsKey(r.Key)))
            actions[r.Key] = RowAction.Skipped;
        var todo = request.Rows.Where((r, position) => !skips.ContainsKey(r.Key) && (request.Shard?.Takes(position) ?? true)).ToList();
        if (request.Shard is { } shard)
            line($"{shard}: {todo.Count} of {request.Rows.Count} row(s): {(todo.Count == 0 ? "none" : string.Join(", ", todo.Select(r => r.Key)))}");
        var started = DateTimeOffset.Now;
        var missingData = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < todo.Count; i++)
        {
            var row = todo[i];
            string prefix = $"[{i + 1}/{todo.Count}] {row.Key}";
            if (request.Stop.IsCancellationRequested)
            {
                // Stopped between two rows: nothing to checkpoint; the next start trains this row.
                line($"{prefix}: not started: a stop signal came");
                actions[row.Key] = RowAction.Stopped;
                break;
            }
            void Line(string s) => line($"{prefix}: {s}");
            if (missingData.TryGetValue(row.Dataset, out var why))
            {
                Line("error: " + why);
                problems.Add($"{row.Key}: {why}");
                actions[row.Key] = RowAction.Failed;
                continue;
            }
            try
            {
                actions[row.Key] = RunRow(row, request, budget, row.IsCifar ? cifarDir : request.FashionData, train, Line, problems);
                if (actions[row.Key] == RowAction.Stopped)
                    break;
            }
            catch (Exception e) when (e is DatasetException or CheckpointException or TrainingException or IOException or UnauthorizedAccessException)
            {
                // The next row may still run (another dataset, another run folder); the exit code says something failed.
                Line("error: " + e.Message);
                problems.Add($"{row.Key}: {e.Message}");
                actions[row.Key] = RowAction.Failed;
                if (e is DatasetException)
                    missingData[row.Dataset] = e.Message;
            }
        }

        var results = Table1Report.Collect(request.RunsDirectory, budget, skips);
        if (request.Shard is not null || actions.Values.Contains(RowAction.Stopped))
            return new ReproduceOutcome(results, actions, null, null, problems, device.Name);
        var (md, csv) = Table1Report.Write(request.OutDirectory, results, budget, device.Name, started, notes);
        return new ReproduceOutcome(results, actions, md, csv, problems, device.Name);
    }

    /// <summary>Rewrites the report from the runs that exist, without training. CIFAR-10 rows without a run are
    /// reported as skipped, with the reason, when neither directory holds CIFAR-10.</summary>
    public static (string Markdown, string Csv) WriteReport(string runsDirectory, string outDirectory, Budget budget, string deviceName,
        string? fashionData = null, string? cifarData = null)
    {
        var skips = new Dictionary<string, string>(StringComparer.Ordinal);
        var notes = new List<string>();
        var results = Table1Report.Collect(runsDirectory, budget);
        bool cifarPresent = (cifarData is not null && Cifar10Present(cifarData)) || (fashionData is not null && Cifar10Present(fashionData));
        if (!cifarPresent)
        {
            SkipWithoutCifar(results.Where(x => x.Row.IsCifar && !x.HasRun).Select(x => x.Row).ToList(), skips, notes);
            results = results.Select(x => skips.TryGetValue(x.Row.Key, out var reason) ? x with { SkipReason = reason } : x).ToList();
        }
        return Table1Report.Write(outDirectory, results, budget, deviceName, DateTimeOffset.Now, notes);
    }

    /// <summary>Marks CIFAR-10 rows as skipped for want of data, with one note that names them.</summary>
    private static void SkipWithoutCifar(IReadOnlyList<Table1Row> cifarRows, Dictionary<string, string> skips, List<string> notes)
    {
        if (cifarRows.Count == 0)
            return;
        foreach (var r in cifarRows)
            skips[r.Key] = NoCifarReason;
        notes.Add(FormattableString.Invariant($"CIFAR-10 rows skipped ({string.Join(", ", cifarRows.Select(r => r.Key))}): {NoCifarReason}."));
    }

    private static string NoCifarReason => "no CIFAR-10 data: CIFAR-10 is not packaged; download the binary version " +
                                           $"({Cifar10.DownloadUrl}), unpack it and pass --cifar-data DIR";

    private static RowAction RunRow(Table1Row row, ReproduceRequest request, Budget budget, string? dataDirectory,
        Func<TrainRequest, TrainingOutcome> train, Action<string> line, List<string> problems)
    {
        string name = budget.RunName(row);
        string dir = Path.Combine(request.RunsDirectory, name);
        var run = RunFolder.Read(dir);
        if (request.Force && run.Exists)
        {
            line($"--force: removing the previous run {dir}");
            RunFiles.Clear(dir);
            run = RunFolder.Read(dir);
        }
        if (run.Exists && run.HasConfig)
        {
            var differences = budget.Differences(row, run);
            if (differences.Count > 0)
            {
                string message = $"{dir} holds a different experiment ({string.Join("; ", differences)}); not touched. Use --force to replace it, or --runs-dir to train elsewhere.";
                line("error: " + message);
                problems.Add($"{row.Key}: {message}");
                return RowAction.Failed;
            }
        }

        switch (run.Progress)
        {
            case RunProgress.Diverged:
            {
                var d = run.Divergence!.Value;
                line(FormattableString.Invariant($"already done: the loss became non-finite at epoch {d.Epoch} step {d.Step} ({dir}); --force trains it again"));
                return RowAction.AlreadyDone;
            }
            case RunProgress.Complete when run.CheckpointEpoch >= budget.Epochs:
                line(FormattableString.Invariant($"already done: {run.CheckpointEpoch} epoch(s) in {dir}; --force trains it again"));
                return RowAction.AlreadyDone;
            case RunProgress.Complete:
            case RunProgress.Partial:
            {
                line(FormattableString.Invariant($"resuming {dir} after epoch {run.CheckpointEpoch} of {budget.Epochs}"));
                var outcome = train(new TrainRequest
                {
                    Resume = true,
                    Run = name,
                    RunsDirectory = request.RunsDirectory,
                    Epochs = budget.Epochs,
                    Device = request.Device,
                    DataDirectory = dataDirectory,
                    Stop = request.Stop,
                });
                line(End(outcome));
                return outcome.Status == RunStatus.Stopped ? RowAction.Stopped : RowAction.Resumed;
            }
            default:
            {
                if (run.Progress == RunProgress.Started)
                {
                    line($"{dir} holds a run that stopped before its first checkpoint: starting it again");
                    run.ClearUnfinished();
                }
                line(FormattableString.Invariant($"training {row.Description} on {row.Dataset} for {budget.Epochs} epoch(s) into {dir}"));
                var outcome = train(budget.FreshRequest(row, request.RunsDirectory, request.Device, dataDirectory) with { Stop = request.Stop });
                line(End(outcome));
                return outcome.Status == RunStatus.Stopped ? RowAction.Stopped : RowAction.Trained;
            }
        }
    }

    private static string End(TrainingOutcome o)
    {
        var last = o.Epochs.Count > 0 ? o.Epochs[^1] : null;
        string result = last is null
            ? "no epoch completed"
            : FormattableString.Invariant($"loss sum {last.LossSum:0.0000}, test accuracy {last.TestAccuracy:0.00}% after epoch {last.Epoch}");
        if (o.Status == RunStatus.Stopped)
            return $"{o.StopMessage}; the same command continues it";
        return o.Status == RunStatus.Diverged
            ? FormattableString.Invariant($"done: COLLAPSED, non-finite loss at epoch {o.DivergedEpoch} step {o.DivergedStep}; {result}")
            : FormattableString.Invariant($"done: {result}, {Table1Report.Duration(o.WallSeconds)}");
    }

    /// <summary>Finds the CIFAR-10 files: --cifar-data, else the --data directory. Rows that cannot run are skipped with a
    /// reason, unless the user asked for them by name or gave --cifar-data (then it is an error).</summary>
    private static string? ResolveCifar(ReproduceRequest request, Dictionary<string, string> skips, List<string> notes)
    {
        var cifarRows = request.Rows.Where(r => r.IsCifar).ToList();
        if (cifarRows.Count == 0)
            return null;
        if (request.CifarData is not null)
        {
            // Let the loader's message say what is missing.
            if (!Cifar10Present(request.CifarData))
                Cifar10.Load(request.CifarData);
            return request.CifarData;
        }
        if (request.FashionData is not null && Cifar10Present(request.FashionData))
            return request.FashionData;
        if (request.RowsNamed)
            throw new DatasetNotFoundException($"{string.Join(", ", cifarRows.Select(r => r.Key))}: {NoCifarReason}.");
        SkipWithoutCifar(cifarRows, skips, notes);
        return null;
    }

    /// <summary>Whether a directory (or its cifar-10-batches-bin subdirectory) holds every CIFAR-10 batch file.</summary>
    public static bool Cifar10Present(string directory)
    {
        bool All(string d) => Cifar10.TrainFiles.Append(Cifar10.TestFile).All(f => File.Exists(Path.Combine(d, f)));
        return All(directory) || All(Path.Combine(directory, "cifar-10-batches-bin"));
    }
}
