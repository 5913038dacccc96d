using System.Globalization;
using System.Text;
using AttentionWise.Training;
using AttentionWise.Training.Data;

namespace AttentionWise.Tool.Reproduction;

/// <summary>Our side of one row of the report: the run found for it (if any) and what it says.</summary>
internal sealed record Table1Result(Table1Row Row, RunFolder? Run, string? SkipReason = null)
{
    /// <summary>Test accuracy at or below this many points above chance counts as a collapse.</summary>
    public const double ChanceMargin = 5;

    public bool HasRun => Run is { HasConfig: true };

    public EpochRow? Last => Run?.Last;

    public int EpochsDone => Last?.Epoch ?? 0;

    public bool Diverged => Run?.Divergence is not null;

    /// <summary>"completed", "diverged", "incomplete", "not run" or "skipped".</summary>
    public string Status => !HasRun ? (SkipReason is null ? "not run" : "skipped")
        : Diverged ? "diverged"
        : Run!.Progress == RunProgress.Complete ? "completed"
        : "incomplete";

    /// <summary>Whether the model collapsed: a non-finite loss, or a test accuracy at chance level.</summary>
    public bool Collapsed => HasRun && (Diverged || (Last is { } l && l.TestAccuracy <= 100.0 / Classes + ChanceMargin));

    private int Classes => Run?.Model?.Classes ?? 10;

    /// <summary>One phrase on what happened, e.g. "NaN at epoch 2 step 3; accuracy 9.99% after epoch 1".</summary>
    public string Note
    {
        get
        {
            if (!HasRun)
                return SkipReason ?? "no run yet";
            var parts = new List<string>();
            if (Run!.Divergence is { } d)
            {
                string what = float.IsNaN(d.Loss) ? "NaN" : float.IsPositiveInfinity(d.Loss) ? "+inf" : float.IsNegativeInfinity(d.Loss) ? "-inf" : "non-finite";
                parts.Add(FormattableString.Invariant($"{what} loss at epoch {d.Epoch} step {d.Step}"));
                parts.Add(Last is { } l
                    ? FormattableString.Invariant($"accuracy at collapse {l.TestAccuracy:0.00}% (after epoch {l.Epoch})")
                    : "no epoch completed");
            }
            else if (Collapsed)
            {
                parts.Add(FormattableString.Invariant($"collapsed: test accuracy {Last!.TestAccuracy:0.00}% is at chance ({100.0 / Classes:0.#}%)"));
            }
            if (Status == "incomplete")
                parts.Add(FormattableString.Invariant($"{EpochsDone} of {Run.Settings!.Epochs} epochs done (run again to continue)"));
            return string.Join("; ", parts);
        }
    }

    /// <summary>Full training/test set sizes of the row's dataset.</summary>
    private (int Train, int Test) FullSizes => Row.Dataset == Datasets.Cifar10Name ? (50_000, 10_000) : (60_000, 10_000);

    /// <summary>Whether the run trained for fewer epochs or on less data than the paper.</summary>
    public bool Reduced => HasRun && (Run!.Settings!.Epochs < Table1.PaperEpochs || (EpochsDone < Table1.PaperEpochs && !Diverged)
        || (Run.TrainImages ?? 0) < FullSizes.Train || (Run.TestImages ?? 0) < FullSizes.Test);

    /// <summary>Whether the run changed the paper's batch size or learning rate.</summary>
    public bool Modified => HasRun && (Run!.Settings!.BatchSize != Datasets.DefaultBatchSize(Row.Dataset)
        || Run.Settings.LearningRate != RunSettings.DefaultLearningRate);

    /// <summary>e.g. "10 epochs, 60,000 / 10,000 images" or "REDUCED (2 epochs, 2,048 of 60,000 training, 1,000 of 10,000 test images)",
    /// followed by "MODIFIED (batch 16)" when the set-up differs from the paper's.</summary>
    public string BudgetText
    {
        get
        {
            if (!HasRun)
                return "";
            var (fullTrain, fullTest) = FullSizes;
            int train = Run!.TrainImages ?? 0, test = Run.TestImages ?? 0;
            int epochs = Diverged ? Run.Settings!.Epochs : EpochsDone;
            string e = epochs == 1 ? "1 epoch" : FormattableString.Invariant($"{epochs} epochs");
            string images = train >= fullTrain && test >= fullTest
                ? FormattableString.Invariant($"{train:N0} / {test:N0} images")
                : FormattableString.Invariant($"{train:N0} of {fullTrain:N0} training, {test:N0} of {fullTest:N0} test images");
            string text = Reduced ? $"REDUCED ({e}, {images})" : $"{e}, {images}";
            return Modified ? $"{text}, MODIFIED ({ModifiedText})" : text;
        }
    }

    /// <summary>e.g. "1 ep, 120/60 img, bs 16; REDUCED, MODIFIED" for narrow tables.</summary>
    public string CompactBudgetText
    {
        get
        {
            if (!HasRun)
                return "";
            int epochs = Diverged ? Run!.Settings!.Epochs : EpochsDone;
            string text = FormattableString.Invariant($"{epochs} ep, {Run!.TrainImages:N0}/{Run.TestImages:N0} img");
            if (Modified)
                text += ", " + ModifiedText;
            var tags = new List<string>();
            if (Reduced)
                tags.Add("REDUCED");
            if (Modified)
                tags.Add("MODIFIED");
            return tags.Count > 0 ? $"{text}; {string.Join(", ", tags)}" : text;
        }
    }

    private string ModifiedText
    {
        get
        {
            var s = Run!.Settings!;
            var parts = new List<string>();
            if (s.BatchSize != Datasets.DefaultBatchSize(Row.Dataset))
                parts.Add(FormattableString.Invariant($"batch {s.BatchSize}"));
            if (s.LearningRate != RunSettings.DefaultLearningRate)
                parts.Add("lr " + s.LearningRate.ToString("G", CultureInfo.InvariantCulture));
            return string.Join(", ", parts);
        }
    }
}

/// <summary>
/// The report of `aw reproduce`: reports/table1.md and reports/table1.csv, our figures beside the paper's (SPEC §5),
/// regenerated from whatever runs exist under the runs directory.
/// </summary>
internal static class Table1Report
{
    public const string MarkdownFile = "table1.md";
    public const string CsvFile = "table1.csv";

    public static readonly IReadOnlyList<string> CsvColumns =
    [
        "row", "experiment", "model", "dataset", "status", "collapsed", "note", "reduced", "budget",
        "epochs", "train_images", "test_images", "batch_size", "lr", "attention_lr", "seed",
        "parameters", "paper_parameters",
        "loss_sum", "paper_loss_sum", "loss_mean", "paper_loss_mean",
        "test_accuracy", "paper_test_accuracy", "paper_accuracy_text",
        "last_grad_mean", "paper_last_grad_mean",
        "train_seconds", "paper_minutes_t4", "images_per_second", "device", "run", "generated",
    ];

    /// <summary>Steps per epoch of the paper's Fashion-MNIST runs (60,000 / 4096, rounded up), by which its loss
    /// sum divides into a mean per batch; CIFAR-10: 50,000 / 1024.</summary>
    public static int PaperStepsPerEpoch(Table1Row row) => row.IsCifar ? 49 : 15;

    /// <summary>For every row of the table, the run of the current budget if there is one, else the most recent
    /// run of that row under another budget.</summary>
    public static List<Table1Result> Collect(string runsDirectory, Budget budget, IReadOnlyDictionary<string, string>? skipReasons = null)
    {
        var folders = Directory.Exists(runsDirectory)
            ? Directory.GetDirectories(runsDirectory).Select(Path.GetFileName).OfType<string>().ToList()
            : [];
        var results = new List<Table1Result>();
        foreach (var row in Table1.Rows)
        {
            string? skip = skipReasons is not null && skipReasons.TryGetValue(row.Key, out var r) ? r : null;
            var exact = RunFolder.Read(Path.Combine(runsDirectory, budget.RunName(row)));
            if (exact.HasConfig)
            {
                results.Add(new Table1Result(row, exact, skip));
                continue;
            }
            var other = folders.Where(f => Budget.IsRunOf(row, f))
                .Select(f => RunFolder.Read(Path.Combine(runsDirectory, f)))
                .Where(f => f.HasConfig)
                .OrderByDescending(f => f.LastWrite)
                .FirstOrDefault();
            results.Add(new Table1Result(row, other, skip));
        }
        return results;
    }

    /// <summary>Writes table1.md and table1.csv into <paramref name="outDirectory"/>; returns their paths.</summary>
    public static (string Markdown, string Csv) Write(string outDirectory, IReadOnlyList<Table1Result> results, Budget budget, string deviceName,
        DateTimeOffset generated, IReadOnlyList<string> notes)
    {
        Directory.CreateDirectory(outDirectory);
        string md = Path.Combine(outDirectory, MarkdownFile);
        string csv = Path.Combine(outDirectory, CsvFile);
        WriteAtomically(md, Markdown(results, budget, deviceName, generated, notes));
        WriteAtomically(csv, Csv(results, generated));
        return (md, csv);
    }

    public static string Markdown(IReadOnlyList<Table1Result> results, Budget budget, string deviceName, DateTimeOffset generated, IReadOnlyList<string> notes)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# Paper Table 1, reproduced");
        sb.AppendLine();
        sb.AppendLine(Inv($"Generated {generated:yyyy-MM-dd HH:mm zzz} by `aw reproduce` (AttentionWise {RunInfo.Version}, {RunInfo.DotNet}, ILGPU: {ComputeDevice.IlgpuFlavor})."));
        sb.AppendLine(Inv($"Device of this invocation: {deviceName}. Each row's own device is in the last columns."));
        sb.AppendLine(Inv($"Asked for: {budget.Describe()}. The paper: 10 epochs, all 60,000 / 10,000 images (CIFAR-10: 50,000 / 10,000), batch 4096 (CIFAR-10: 1024), Adam lr 0.001."));
        sb.AppendLine();
        var reduced = results.Where(r => r.Reduced).Select(r => r.Row.Key).ToList();
        var modified = results.Where(r => r.Modified).Select(r => r.Row.Key).ToList();
        if (reduced.Count > 0)
        {
            sb.AppendLine(Inv($"> **REDUCED BUDGET** for {string.Join(", ", reduced)}: fewer epochs or fewer images than the paper. ") +
                          "Their figures are not comparable with the paper's; the loss sum also depends on the number of batches per epoch (compare the mean per batch).");
            sb.AppendLine();
        }
        if (modified.Count > 0)
        {
            sb.AppendLine(Inv($"> **MODIFIED SET-UP** for {string.Join(", ", modified)}: batch size or learning rate differ from the paper's."));
            sb.AppendLine();
        }

        sb.AppendLine("| row | experiment | parameters (ours / paper) | loss sum (ours / paper) | loss per batch (ours / paper) | test accuracy % (ours / paper) | last gradient average (ours / paper) | training time (ours / paper, T4) | budget | status |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---|---|");
        foreach (var r in results)
        {
            var p = r.Row.Paper;
            var l = r.Last;
            string status = r.Status + (r.Note.Length > 0 && r.HasRun ? ": " + r.Note : r.HasRun ? "" : r.SkipReason is not null ? ": " + r.SkipReason : "");
            sb.Append(Inv($"| {r.Row.Key} | {Escape(r.Row.Label)} ({Escape(r.Row.Description)}) "));
            sb.Append(Inv($"| {Count(r.Run?.Parameters)} / {Count(p.Parameters)} "));
            sb.Append(Inv($"| {Num(l?.LossSum, "0.0000")} / {p.LossSum.ToString("0.0###", CultureInfo.InvariantCulture)} "));
            sb.Append(Inv($"| {Num(l?.LossMean, "0.0000")} / {(p.LossSum / PaperStepsPerEpoch(r.Row)).ToString("0.0000", CultureInfo.InvariantCulture)} "));
            sb.Append(Inv($"| {Num(l?.TestAccuracy, "0.00")} / {Escape(p.AccuracyText)} "));
            sb.Append(Inv($"| {Grad(l?.LastGradMean)} / {Grad(p.LastGradientAverage)} "));
            sb.Append(Inv($"| {(r.HasRun ? Duration(r.Run!.TrainSeconds) : "—")} / {(p.Minutes is double m ? Duration(m * 60) : "—")} "));
            sb.Append(Inv($"| {Escape(r.BudgetText)} | {Escape(status)} |"));
            sb.AppendLine();
        }
        sb.AppendLine();

        var ours = results.Where(r => r.Collapsed).Select(r => $"{r.Row.Key} ({r.Note})").ToList();
        var papers = results.Where(r => r.Row.Paper.Collapsed).Select(r => r.Row.Label).ToList();
        sb.AppendLine(Inv($"**What collapsed.** Here: {(ours.Count > 0 ? string.Join("; ", ours) : results.Any(r => r.HasRun) ? "nothing" : "no runs yet")}. ") +
                          Inv($"In the paper: {string.Join(", ", papers)} (loss sum 34.539 = 15 batches × ln 10: uniform outputs, accuracy at chance)."));
        sb.AppendLine();

        sb.AppendLine("| row | run | device | epochs done | images/s (last epoch) |");
        sb.AppendLine("|---|---|---|---:|---:|");
        foreach (var r in results.Where(r => r.HasRun))
            sb.AppendLine(Inv($"| {r.Row.Key} | `{r.Run!.Name}` | {Escape(r.Last?.Device ?? r.Run.DeviceName ?? "")} | {r.EpochsDone} | {Num(r.Last?.ImagesPerSecond, "N0")} |"));
        sb.AppendLine();

        sb.AppendLine("Notes:");
        sb.AppendLine();
        sb.AppendLine("- Loss: the sum over the last epoch's batches of each batch's mean NLL, as the paper reports it (15 batches per epoch on all of Fashion-MNIST at batch 4096); " +
                      "the loss per batch divides it by the batches per epoch (the paper's by 15, CIFAR-10's by 49).");
        sb.AppendLine("- Accuracy: on the test set after the last epoch. Last gradient average: the mean gradient of the first layer's weights after the epoch's last batch " +
                      "(control: conv 1; attention: Wx of head 0 of layer 0).");
        sb.AppendLine("- Training time: wall time of the epochs (training and test evaluation), summed; the paper's times are for 10 epochs on one Tesla T4.");
        sb.AppendLine("- Parameters: the paper's counts for A, C–E, G, H, the single-head and the CIFAR-10 attention models disagree with its own formula (SPEC §2); ours follow the formula.");
        sb.AppendLine(Inv($"- Collapse: a non-finite training loss (the run stops there; that is a result), or a test accuracy within {Table1Result.ChanceMargin:0} points of chance."));
        foreach (var n in notes)
            sb.AppendLine("- " + n);
        return sb.ToString();
    }

    public static string Csv(IReadOnlyList<Table1Result> results, DateTimeOffset generated)
    {
        var sb = new StringBuilder();
        sb.Append(string.Join(",", CsvColumns)).Append('\n');
        foreach (var r in results)
        {
            var p = r.Row.Paper;
            var l = r.Last;
            var s = r.Run?.Settings;
            var fields = new string?[]
            {
                r.Row.Key, r.Row.Label, r.Row.Description, r.Row.Dataset, r.Status, r.HasRun ? (r.Collapsed ? "true" : "false") : "", r.HasRun ? r.Note : r.SkipReason ?? "",
                r.HasRun ? (r.Reduced ? "true" : "false") : "", r.BudgetText,
                r.HasRun ? I(r.EpochsDone) : "", I(r.Run?.TrainImages), I(r.Run?.TestImages), I(s?.BatchSize),
                F(s?.LearningRate), F(s?.AttentionLearningRate), s?.Seed.ToString(CultureInfo.InvariantCulture),
                L(r.Run?.Parameters), L(p.Parameters),
                D(l?.LossSum), D(p.LossSum), D(l?.LossMean), D(p.LossSum / PaperStepsPerEpoch(r.Row)),
                D(l?.TestAccuracy), D(p.Accuracy), p.AccuracyText,
                l is null ? "" : l.LastGradMean.ToString("R", CultureInfo.InvariantCulture), D(p.LastGradientAverage),
                r.HasRun ? D(Math.Round(r.Run!.TrainSeconds, 3)) : "", D(p.Minutes), D(l is null ? null : Math.Round(l.ImagesPerSecond, 1)),
                l?.Device ?? r.Run?.DeviceName, r.Run?.Name, generated.ToString("O", CultureInfo.InvariantCulture),
            };
            sb.Append(string.Join(",", fields.Select(CsvField))).Append('\n');
        }
        return sb.ToString();
    }

    internal static string CsvField(string? v)
    {
        v ??= "";
        return v.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + v.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : v;
    }

    /// <summary>e.g. "45 s", "3 min 05 s", "1 h 02 min".</summary>
    public static string Duration(double seconds)
    {
        if (!double.IsFinite(seconds))
            return "—";
        if (seconds < 60)
            return Inv($"{seconds:0} s");
        if (seconds < 3600)
            return (int)(seconds % 60) == 0 ? Inv($"{(int)(seconds / 60)} min") : Inv($"{(int)(seconds / 60)} min {(int)(seconds % 60):00} s");
        return Inv($"{(int)(seconds / 3600)} h {(int)(seconds % 3600 / 60):00} min");
    }

    private static string Inv(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    private static string Num(double? v, string format) => v is double d ? (double.IsFinite(d) ? d.ToString(format, CultureInfo.InvariantCulture) : "NaN") : "—";

    private static string Grad(double? v) => v is double d ? (d == 0 ? "0" : d.ToString("G3", CultureInfo.InvariantCulture)) : "—";

    private static string Count(long? v) => v is long c ? c.ToString("N0", CultureInfo.InvariantCulture) : "—";

    private static string Escape(string s) => s.Replace("|", "\\|", StringComparison.Ordinal);

    private static string I(int? v) => v?.ToString(CultureInfo.InvariantCulture) ?? "";

    private static string L(long? v) => v?.ToString(CultureInfo.InvariantCulture) ?? "";

    private static string F(float? v) => v?.ToString("G", CultureInfo.InvariantCulture) ?? "";

    private static string D(double? v) => v is double d ? d.ToString("R", CultureInfo.InvariantCulture) : "";

    private static void WriteAtomically(string path, string text)
    {
        string temp = path + ".tmp";
        File.WriteAllText(temp, text, new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }
}
