using System.Globalization;
using CsvHelper;

namespace AttentionWise.Training;

/// <summary>One row of epochs.csv: the paper's per-epoch metrics (SPEC §4) and a few more.</summary>
[CsvRecord]
public sealed partial record EpochRow
{
    [CsvColumn("epoch")] public int Epoch { get; init; }

    /// <summary>Σ over the epoch's batches of each batch's mean NLL (the paper's "loss").</summary>
    [CsvColumn("loss_sum")] public double LossSum { get; init; }

    /// <summary>loss_sum / number of batches.</summary>
    [CsvColumn("loss_mean")] public double LossMean { get; init; }

    /// <summary>Accuracy on the test set, in %.</summary>
    [CsvColumn("test_accuracy")] public double TestAccuracy { get; init; }

    /// <summary>Mean of the first layer weight's gradient after the epoch's last batch (the paper's "last gradients average").</summary>
    [CsvColumn("last_grad_mean")] public float LastGradMean { get; init; }

    /// <summary>Wall time of the epoch: training pass plus test evaluation (not the checkpoint).</summary>
    [CsvColumn("epoch_seconds")] public double EpochSeconds { get; init; }

    /// <summary>Training images per second of the training pass (evaluation excluded).</summary>
    [CsvColumn("images_per_second")] public double ImagesPerSecond { get; init; }

    [CsvColumn("device")] public string Device { get; init; } = "";

    /// <summary>Accuracy on the training batches of the epoch (as they were seen, in training mode), in %.</summary>
    [CsvColumn("train_accuracy")] public double TrainAccuracy { get; init; }

    /// <summary>Mean NLL over the test set.</summary>
    [CsvColumn("test_loss")] public double TestLoss { get; init; }

    /// <summary>Most device bytes held by tensors at once since the run (or resume) started.</summary>
    [CsvColumn("peak_device_bytes")] public long PeakDeviceBytes { get; init; }

    /// <summary>Columns whose values depend on wall time, left out when runs are compared.</summary>
    public static readonly IReadOnlyList<string> TimingColumns = ["epoch_seconds", "images_per_second"];
}

/// <summary>One row of steps.csv: one optimiser step.</summary>
[CsvRecord]
public sealed partial record StepRow
{
    [CsvColumn("epoch")] public int Epoch { get; init; }

    /// <summary>Step within the epoch, from 1.</summary>
    [CsvColumn("step")] public int Step { get; init; }

    /// <summary>The batch's mean NLL.</summary>
    [CsvColumn("loss")] public float Loss { get; init; }

    /// <summary>Mean of the first layer weight's gradient after this step's backward pass.</summary>
    [CsvColumn("grad_mean")] public float GradMean { get; init; }
}

/// <summary>
/// Appends rows to a CSV file with CsvHelper, writing the header when the file is new and flushing every
/// row as it is written, so that the file is complete and valid whenever the run stops.
/// </summary>
internal sealed class CsvLog<T> : IDisposable
    where T : class
{
    private readonly StreamWriter _writer;
    private readonly CsvWriter _csv;

    public CsvLog(string path)
    {
        Path = path;
        bool fresh = !File.Exists(path) || new FileInfo(path).Length == 0;
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read), new System.Text.UTF8Encoding(false));
        _csv = CsvWriter.Create(_writer, Options, leaveOpen: true);
        if (fresh)
        {
            _csv.WriteHeader<T>();
            Flush();
        }
    }

    public string Path { get; }

    private static readonly CsvWriterOptions Options = new() { NewLine = "\n", FormatProvider = CultureInfo.InvariantCulture };

    public void Write(T row)
    {
        _csv.WriteRecord(row);
        Flush();
    }

    private void Flush()
    {
        _csv.Flush();
        _writer.Flush();
    }

    public void Dispose()
    {
        _csv.Dispose();
        _writer.Dispose();
    }

    /// <summary>Reads every row of a CSV file written by this class.</summary>
    public static List<T> ReadAll(string path)
    {
        using var csv = CsvReader.Create(new StreamReader(path), null, leaveOpen: false);
        return csv.GetRecords<T>().ToList();
    }

    /// <summary>Reads the rows of CSV text written by this class.</summary>
    public static List<T> Parse(string text)
    {
        using var csv = CsvReader.Create(new StringReader(text), null, leaveOpen: false);
        return csv.GetRecords<T>().ToList();
    }

    /// <summary>The text of a CSV file written by this class without a torn last line: every row ends with a newline when
    /// it is written, so text after the last newline is a row whose write was cut short (a full disk, a crash).</summary>
    public static string WithoutTornTail(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int last = text.LastIndexOf('\n');
        return last < 0 ? "" : text[..(last + 1)];
    }

    /// <summary>Keeps the header and the rows whose first column (the epoch) is at most <paramref name="lastEpoch"/>, and
    /// drops a torn last line; used when a run resumes from a checkpoint, so that the log continues exactly where the
    /// checkpoint is.</summary>
    public static void TruncateAfterEpoch(string path, int lastEpoch) => TruncateAfterStep(path, lastEpoch, 0);

    /// <summary>As <see cref="TruncateAfterEpoch"/>, keeping also the rows of epoch <paramref name="lastEpoch"/> + 1 whose
    /// second column (the step) is at most <paramref name="steps"/>: steps.csv at a checkpoint inside an epoch.</summary>
    public static void TruncateAfterStep(string path, int lastEpoch, int steps)
    {
        if (!File.Exists(path))
            return;
        var lines = WithoutTornTail(File.ReadAllText(path)).Split('\n');
        var kept = lines.Take(1).Concat(lines.Skip(1).Where(line =>
        {
            var fields = line.Split(',', 3);
            if (!int.TryParse(fields[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int epoch))
                return false;
            if (epoch <= lastEpoch)
                return true;
            return steps > 0 && epoch == lastEpoch + 1 && fields.Length > 1
                   && int.TryParse(fields[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int step) && step <= steps;
        })).Where(l => l.Length > 0);
        string temp = path + ".tmp";
        File.WriteAllText(temp, string.Concat(kept.Select(l => l + "\n")));
        File.Move(temp, path, overwrite: true);
    }
}
