using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using AttentionWise.Layers;
using AttentionWise.Tool.Visualization;
using AttentionWise.Training;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Tool.Reproduction;

/// <summary>
/// The parameter / time / accuracy trade-off of the named models (`aw sweep`): per model, its parameter count, the
/// time of one training step at its batch size (warm-up steps, then timed steps, each ending in a device
/// synchronisation), images per second, peak device memory, and the test accuracy after a short training run
/// through the same loop as `aw train`. Writes reports/sweep.csv (and the CLI draws reports/sweep.png from it with
/// <see cref="SweepPlot"/>); a model whose loss goes non-finite is a row too.
/// </summary>
internal static class Sweep
{
    public const string CsvFile = "sweep.csv";
    public const string PlotFile = "sweep.png";

    /// <summary>A configuration's row, kept in its run folder (runs/sweep-&lt;model&gt;/) for the report step.</summary>
    public const string RowFile = "sweep-row.json";

    /// <summary>The settings a configuration's run folder was started with (a task resumes only a run of the same settings).</summary>
    public const string SettingsFile = "sweep-settings.txt";

    /// <summary>The run folder of a model's accuracy run.</summary>
    public static string RunName(string model) => $"sweep-{model}";

    private sealed record RowRecord(string Settings, string Row);

    public static SweepOutcome Run(SweepRequest request, Func<TrainRequest, TrainingOutcome> train, Action<string> line)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(line);
        ComputeDevice.Choose(ComputeDevice.List(), request.Device);
        var rows = new List<SweepRow>();
        var skipped = new List<string>();
        var data = new Dictionary<string, DatasetSplit>(StringComparer.Ordinal);
        string date = DateTimeOffset.Now.ToString("yyyy-MM-dd HH:mm zzz", CultureInfo.InvariantCulture);
        string csv = Path.Combine(request.OutDirectory, CsvFile);
        var shard = request.Shard;
        if (shard is null)
            Directory.CreateDirectory(request.OutDirectory);
        var kept = new List<string>();
        string key = request.SettingsKey;
        var positions = shard?.Positions(request.Models.Count).ToList() ?? Enumerable.Range(0, request.Models.Count).ToList();
        if (shard is not null)
        {
            line(FormattableString.Invariant(
                $"{shard}: {positions.Count} of {request.Models.Count} configuration(s): {(positions.Count == 0 ? "none" : string.Join(", ", positions.Select(p => request.Models[p])))}"));
        }

        foreach (int i in positions)
        {
            // A stop asked for between two models (during a timing): nothing to checkpoint, the next start begins here.
            if (request.Stop.IsCancellationRequested)
                return new SweepOutcome(shard is null ? csv : null, rows, skipped, Stopped: true, kept);
            var entry = ModelRegistry.Find(request.Models[i]);
            string prefix = $"[{i + 1}/{request.Models.Count}] {entry.Name}";
            string runDir = Path.Combine(request.RunsDirectory, RunName(entry.Name));
            bool resume = false;
            if (shard is not null)
            {
                // A task finishes what an earlier attempt (a preempted or requeued job) left: a row of these settings is kept,
                // a run of these settings with a checkpoint is resumed, anything else is started again.
                if (ReadRecord(runDir) is { } done && done.Settings == key)
                {
                    line($"{prefix}: already measured with these settings ({Path.Combine(runDir, RowFile)}); kept");
                    kept.Add(entry.Name);
                    continue;
                }
                resume = request.Epochs > 0 && SameSettings(runDir, key) && File.Exists(Path.Combine(runDir, Training.Checkpoints.Checkpoint.FileName));
            }
            string dataset = entry.DefaultDataset;
            string? dir = dataset == Datasets.Cifar10Name ? CifarDirectory(request) : request.FashionData;
            if (dataset == Datasets.Cifar10Name && dir is null)
            {
                string reason = $"no CIFAR-10 data (pass --cifar-data DIR with the binary version, {Cifar10.DownloadUrl})";
                if (request.ModelsNamed)
                    throw new DatasetNotFoundException($"{entry.Name} trains on CIFAR-10: {reason}.");
                line($"{prefix}: skipped: {reason}");
                skipped.Add($"{entry.Name}: {reason}");
                continue;
            }
            if (!data.TryGetValue(dataset, out var split))
                data[dataset] = split = Datasets.Load(dataset, dir);
            int batch = request.BatchSize ?? Datasets.DefaultBatchSize(dataset);

            line(FormattableString.Invariant($"{prefix}: timing {request.WarmupSteps} warm-up + {request.Steps} training steps at batch {batch}"));
            var timing = Time(entry.Name, split.Train, batch, request);
            line(FormattableString.Invariant(
                $"{prefix}: {timing.Parameters:N0} parameters, {timing.MsPerStep:0.0} ms/step, {batch * 1000.0 / timing.MsPerStep:N0} images/s, peak {timing.PeakBytes / 1048576.0:N1} MiB"));

            double accuracy = double.NaN, lossSum = double.NaN, testLoss = double.NaN;
            string status = "timed";
            if (!resume)
            {
                RunFiles.Clear(runDir);
                Directory.CreateDirectory(runDir);
                WriteText(Path.Combine(runDir, SettingsFile), key + "\n");
            }
            if (request.Epochs > 0)
            {
                string run = RunName(entry.Name);
                line(resume
                    ? FormattableString.Invariant($"{prefix}: resuming the interrupted training in {runDir} ({request.Epochs} epoch(s))")
                    : FormattableString.Invariant($"{prefix}: training {request.Epochs} epoch(s) for the test accuracy into {runDir}"));
                var outcome = train(resume
                    ? new TrainRequest
                    {
                        Resume = true, Run = run, RunsDirectory = request.RunsDirectory, Epochs = request.Epochs, Device = request.Device,
                        DataDirectory = dir, Stop = request.Stop,
                    }
                    : new TrainRequest
                {
                    Model = entry.Name,
                    Dataset = dataset,
                    Epochs = request.Epochs,
                    BatchSize = batch,
                    Seed = request.Seed,
                    Device = request.Device,
                    DataDirectory = dir,
                    Run = run,
                    RunsDirectory = request.RunsDirectory,
                    TrainLimit = request.TrainLimit,
                    TestLimit = request.TestLimit,
                    Stop = request.Stop,
                });
                if (outcome.Status == RunStatus.Stopped)
                {
                    line($"{prefix}: {outcome.StopMessage}");
                    return new SweepOutcome(shard is null ? csv : null, rows, skipped, Stopped: true, kept);
                }
                accuracy = outcome.Epochs.Count > 0 ? outcome.Epochs[^1].TestAccuracy : double.NaN;
                lossSum = outcome.Epochs.Count > 0 ? outcome.Epochs[^1].LossSum : double.NaN;
                testLoss = outcome.Epochs.Count > 0 ? outcome.Epochs[^1].TestLoss : double.NaN;
                status = outcome.Status == RunStatus.Diverged
                    ? FormattableString.Invariant($"diverged at epoch {outcome.DivergedEpoch} step {outcome.DivergedStep}")
                    : "completed";
                line(FormattableString.Invariant($"{prefix}: {status}, test accuracy {(double.IsNaN(accuracy) ? "NaN" : accuracy.ToString("0.00", CultureInfo.InvariantCulture))}%"));
            }
            var row = new SweepRow(entry.Name, timing.Parameters, batch, timing.MsPerStep, batch * 1000.0 / timing.MsPerStep, timing.PeakBytes / 1048576.0,
                request.Epochs, request.TrainLimit, accuracy, timing.DeviceName, status, date, lossSum, testLoss);
            rows.Add(row);
            WriteText(Path.Combine(runDir, RowFile), JsonSerializer.Serialize(new RowRecord(key, row.ToCsv())) + "\n");
            // Written after every model, so that an interrupted sweep keeps what it measured.
            if (shard is null)
                WriteCsv(csv, Merge(request.Fresh ? [] : ReadCsvLines(csv), rows));
        }
        if (shard is null && rows.Count == 0 && !File.Exists(csv))
            WriteCsv(csv, []);
        return new SweepOutcome(shard is null ? csv : null, rows, skipped, Stopped: false, kept);
    }

    /// <summary>
    /// The report step of a sharded sweep: gathers the rows the tasks left in the run folders of
    /// <see cref="SweepRequest.Models"/> (those recorded with the request's settings) into sweep.csv, merged with its
    /// other models' rows as <see cref="Run"/> does. Returns the rows found and the models without one (missing, or
    /// recorded with other settings), each with the reason.
    /// </summary>
    public static (string CsvPath, IReadOnlyList<SweepRow> Rows, IReadOnlyList<string> Missing) Report(SweepRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var rows = new List<SweepRow>();
        var missing = new List<string>();
        string key = request.SettingsKey;
        foreach (var model in request.Models)
        {
            string dir = Path.Combine(request.RunsDirectory, RunName(model));
            var record = ReadRecord(dir);
            if (record is null)
                missing.Add($"{model}: no row in {Path.Combine(dir, RowFile)} (its task has not finished)");
            else if (record.Settings != key)
                missing.Add($"{model}: {Path.Combine(dir, RowFile)} was measured with other settings ({record.Settings}; this report: {key})");
            else
                rows.Add(ParseCsv(string.Join(",", SweepRow.Columns) + "\n" + record.Row + "\n", Path.Combine(dir, RowFile))[0]);
        }
        Directory.CreateDirectory(request.OutDirectory);
        string csv = Path.Combine(request.OutDirectory, CsvFile);
        WriteCsv(csv, Merge(request.Fresh ? [] : ReadCsvLines(csv), rows));
        return (csv, rows, missing);
    }

    private static RowRecord? ReadRecord(string runDir)
    {
        string path = Path.Combine(runDir, RowFile);
        if (!File.Exists(path))
            return null;
        try
        {
            return JsonSerializer.Deserialize<RowRecord>(File.ReadAllText(path));
        }
        catch (JsonException)
        {
            return null; // a damaged row is measured again
        }
    }

    private static bool SameSettings(string runDir, string key)
    {
        string path = Path.Combine(runDir, SettingsFile);
        return File.Exists(path) && File.ReadAllText(path).TrimEnd('\n') == key;
    }

    private static void WriteText(string path, string text)
    {
        string temp = path + ".tmp";
        File.WriteAllText(temp, text, new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }

    private sealed record Timing(long Parameters, double MsPerStep, long PeakBytes, string DeviceName);

    /// <summary>Builds the model with the paper's initialisation, takes one batch of training images (cycled when the set
    /// is smaller), runs warm-up steps, then times whole training steps (zero gradients, forward, loss and its result,
    /// backward, Adam step, device synchronisation).</summary>
    private static Timing Time(string name, Dataset train, int batch, SweepRequest request)
    {
        using var device = ComputeDevice.Open(request.Device);
        device.ResetPeak();
        var config = ModelRegistry.Configure(name, train.Channels, train.Height, train.Width, train.Classes);
        using var model = ModelRegistry.Create(device, config);
        var net = model.Network;
        Init.Apply(net, new Rng(request.Seed));
        using var adam = new Adam(device, net.NamedParameters());
        using var loss = new LogSoftmaxNllLoss(device);
        int item = train.ItemLength;
        var images = new float[batch * item];
        var labels = new int[batch];
        for (int i = 0; i < batch; i++)
        {
            int k = i % train.Count;
            Array.Copy(train.Images, k * item, images, i * item, item);
            labels[i] = train.Labels[k];
        }
        using var source = device.Upload(Shape.Of(batch, train.Channels, train.Height, train.Width), images);
        using var sourceLabels = DeviceIntTensor.Upload(device, labels);
        using var order = DeviceIntTensor.Upload(device, Enumerable.Range(0, batch).ToArray());
        int part = Trainer.PartSize(model, batch, microBatch: null);
        using var x = device.Allocate(Shape.Of(part, train.Channels, train.Height, train.Width));
        using var y = new DeviceIntTensor(device, Shape.Of(part));

        void Step()
        {
            adam.ZeroGrad();
            TrainingLoop.ForwardBackward(net, loss, source, sourceLabels, order, 0, batch, part, x, y);
            adam.Step();
            device.Synchronize();
        }

        for (int i = 0; i < request.WarmupSteps; i++)
            Step();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < request.Steps; i++)
            Step();
        double ms = clock.Elapsed.TotalMilliseconds / Math.Max(1, request.Steps);
        return new Timing(net.ParameterCount, ms, device.PeakAllocatedBytes, device.Name);
    }

    private static string? CifarDirectory(SweepRequest request)
    {
        if (request.CifarData is not null)
            return request.CifarData;
        return request.FashionData is not null && Reproducer.Cifar10Present(request.FashionData) ? request.FashionData : null;
    }

    /// <summary>The data lines of an existing sweep.csv keyed by model (first column), if its header is this version's; the
    /// rows of a file without the loss columns are written again with them (NaN).</summary>
    private static List<(string Model, string Line)> ReadCsvLines(string path)
    {
        if (!File.Exists(path))
            return [];
        var lines = File.ReadAllLines(path);
        if (lines.Length > 0 && lines[0] == string.Join(",", SweepRow.ColumnsWithoutLosses))
        {
            try
            {
                return ReadCsv(path).Select(r => (r.Model, r.ToCsv())).ToList();
            }
            catch (RunDataException)
            {
                return [];
            }
        }
        if (lines.Length == 0 || lines[0] != string.Join(",", SweepRow.Columns))
            return [];
        return lines.Skip(1).Where(l => l.Length > 0).Select(l => (l.Split(',')[0], l)).ToList();
    }

    /// <summary>Old rows of models not measured now, in their order, then the new rows in registry order.</summary>
    private static List<string> Merge(List<(string Model, string Line)> old, List<SweepRow> rows)
    {
        var fresh = rows.ToDictionary(r => r.Model, StringComparer.Ordinal);
        var all = old.Where(o => !fresh.ContainsKey(o.Model)).Select(o => (o.Model, o.Line))
            .Concat(rows.Select(r => (r.Model, Line: r.ToCsv())))
            .ToList();
        var order = ModelRegistry.Names.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
        return all.OrderBy(a => order.TryGetValue(a.Model, out int i) ? i : int.MaxValue).Select(a => a.Line).ToList();
    }

    private static void WriteCsv(string path, IEnumerable<string> lines)
    {
        var sb = new StringBuilder(string.Join(",", SweepRow.Columns)).Append('\n');
        foreach (var l in lines)
            sb.Append(l).Append('\n');
        string temp = path + ".tmp";
        File.WriteAllText(temp, sb.ToString(), new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>Reads a sweep.csv written by <see cref="Run"/>; a missing or damaged file is an error that names it.</summary>
    public static List<SweepRow> ReadCsv(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
            throw new RunDataException($"{path} does not exist (run 'aw sweep' first, or pass --out DIR with the folder that holds sweep.csv).");
        return ParseCsv(File.ReadAllText(path), path);
    }

    private static List<SweepRow> ParseCsv(string text, string path)
    {
        if (!text.EndsWith('\n'))
            throw new RunDataException(text.Length == 0 ? $"{path} is empty." : $"{path} is truncated: its last line stops in the middle of a row.");
        var rows = new List<SweepRow>();
        using var csv = CsvHelper.CsvReader.FromText(text, null);
        csv.ReadHeader();
        bool losses = csv.Headers.SequenceEqual(SweepRow.Columns);
        if (!losses && !csv.Headers.SequenceEqual(SweepRow.ColumnsWithoutLosses))
            throw new RunDataException($"{path}: the header is '{string.Join(",", csv.Headers)}', expected '{string.Join(",", SweepRow.Columns)}'.");
        int columns = losses ? SweepRow.Columns.Count : SweepRow.ColumnsWithoutLosses.Count;
        int line = 1;
        while (csv.Read())
        {
            line++;
            if (csv.FieldCount != columns)
                throw new RunDataException($"{path}: line {line} has {csv.FieldCount} fields, expected {columns}.");
            T Field<T>(string column, Func<string, T?> parse)
                where T : struct
            {
                string v = csv.GetString(column);
                return parse(v) ?? throw new RunDataException($"{path}: line {line}: '{v}' is not a valid {column}.");
            }
            static long? Long(string v) => long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out long x) ? x : null;
            static double? Double(string v) => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double x) ? x : null;
            string limit = csv.GetString("train_limit");
            rows.Add(new SweepRow(
                csv.GetString("model"),
                Field("parameters", Long),
                (int)Field("batch_size", Long),
                Field("ms_per_step", Double),
                Field("images_per_second", Double),
                Field("peak_memory_mb", Double),
                (int)Field("epochs", Long),
                limit.Length == 0 ? null : (int)Field("train_limit", Long),
                Field("test_accuracy", Double),
                csv.GetString("device"),
                csv.GetString("status"),
                csv.GetString("date"),
                losses ? Field("loss_sum", Double) : double.NaN,
                losses ? Field("test_loss", Double) : double.NaN));
        }
        return rows;
    }
}
