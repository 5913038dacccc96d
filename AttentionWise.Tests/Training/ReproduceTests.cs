using System.Globalization;
using AttentionWise.Tests.Data;
using AttentionWise.Tool.Cli;
using AttentionWise.Tool.Reproduction;
using AttentionWise.Training;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Tests.Training;

/// <summary>`aw reproduce` end to end through the command line on small synthetic datasets (CPU), and its table.</summary>
public class ReproduceTests
{
    private static (int Code, string Out, string Err) Aw(params string[] args) => CliTests.Aw(args);

    private static TempDir Synthetic()
    {
        var dir = new TempDir();
        SyntheticData.Write(dir.Path, 120, 60, 8);
        return dir;
    }

    /// <summary>`aw reproduce` on the synthetic set; <paramref name="extra"/> adds or replaces options.</summary>
    private static string[] Reproduce(TempDir dir, params string[] extra)
    {
        var options = new Dictionary<string, string>
        {
            ["--models"] = "attention-a,attention-b", ["--epochs"] = "1", ["--train-limit"] = "64", ["--batch-size"] = "16",
            ["--data"] = dir.Path, ["--runs-dir"] = dir.File("runs"), ["--out"] = dir.File("reports"), ["--device"] = "cpu",
        };
        var flags = new List<string>();
        for (int i = 0; i < extra.Length; i++)
        {
            if (i + 1 < extra.Length && !extra[i + 1].StartsWith("--", StringComparison.Ordinal))
                options[extra[i]] = extra[++i];
            else
                flags.Add(extra[i]);
        }
        return ["reproduce", .. options.Where(o => o.Value.Length > 0).SelectMany(o => new[] { o.Key, o.Value }), .. flags];
    }

    private static List<Dictionary<string, string>> ReadCsv(string path)
    {
        var lines = File.ReadAllLines(path);
        var header = Split(lines[0]);
        return lines.Skip(1).Select(l =>
        {
            var f = Split(l);
            Assert.Equal(header.Count, f.Count);
            return header.Zip(f).ToDictionary(p => p.First, p => p.Second);
        }).ToList();
    }

    private static List<string> Split(string line)
    {
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char ch = line[i];
            if (ch == '"' && quoted && i + 1 < line.Length && line[i + 1] == '"')
            {
                field.Append('"');
                i++;
            }
            else if (ch == '"')
                quoted = !quoted;
            else if (ch == ',' && !quoted)
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else
                field.Append(ch);
        }
        fields.Add(field.ToString());
        return fields;
    }

    [Fact]
    public void TrainsTwoRowsWritesTheReportKeepsFinishedRowsResumesAndRetrainsWithForce()
    {
        using var dir = Synthetic();
        var (code, output, error) = Aw(Reproduce(dir));
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        Assert.Contains("[1/2] attention-a: training", output);
        Assert.Contains("[2/2] attention-b: training", output);
        Assert.Contains("Table 1: ours / paper", output);
        string a = dir.File("runs/table1-attention-a-n64-bs16"), b = dir.File("runs/table1-attention-b-n64-bs16");
        Assert.Single(CsvLog<EpochRow>.ReadAll(Path.Combine(a, RunFiles.EpochsFile)));

        var rows = ReadCsv(dir.File("reports/table1.csv"));
        Assert.Equal(string.Join(",", Table1Report.CsvColumns), File.ReadLines(dir.File("reports/table1.csv")).First());
        Assert.Equal(Table1.Keys, rows.Select(r => r["row"]));
        var rowB = rows.Single(r => r["row"] == "attention-b");
        var epochB = CsvLog<EpochRow>.ReadAll(Path.Combine(b, RunFiles.EpochsFile)).Single();
        Assert.Equal("completed", rowB["status"]);
        Assert.Equal("1", rowB["epochs"]);
        Assert.Equal("64", rowB["train_images"]);
        Assert.Equal("true", rowB["reduced"]);
        Assert.Contains("REDUCED", rowB["budget"]);
        Assert.Contains("MODIFIED (batch 16)", rowB["budget"]);
        Assert.Equal(epochB.LossSum, double.Parse(rowB["loss_sum"], CultureInfo.InvariantCulture), 9);
        Assert.Equal(epochB.TestAccuracy, double.Parse(rowB["test_accuracy"], CultureInfo.InvariantCulture), 9);
        Assert.Equal(epochB.LastGradMean, float.Parse(rowB["last_grad_mean"], CultureInfo.InvariantCulture));
        Assert.Equal("7.5913", rowB["paper_loss_sum"]);
        Assert.Equal("81.46", rowB["paper_test_accuracy"]);
        Assert.Equal("33084", rowB["paper_parameters"]);
        // SPEC §2 on 1×8×8: 2 layers of 2·8·64 x/y weights + 8·9 conv weights + 1 bias, then 10·64 + 10.
        Assert.Equal(2 * (2 * 8 * 64 + 8 * 9 + 1) + 10 * 64 + 10, long.Parse(rowB["parameters"], CultureInfo.InvariantCulture));
        Assert.Contains("CPU", rowB["device"]);
        Assert.Equal("not run", rows.Single(r => r["row"] == "control")["status"]);
        string md = File.ReadAllText(dir.File("reports/table1.md"));
        Assert.Contains("REDUCED BUDGET", md);
        Assert.Contains("What collapsed", md);
        Assert.Contains("| attention-b | B (attention-b) |", md);
        Assert.Contains("CPU", md);

        // Again: nothing is retrained, the files stay as they were.
        var stepsBefore = File.ReadAllBytes(Path.Combine(a, RunFiles.StepsFile));
        var timeBefore = File.GetLastWriteTimeUtc(Path.Combine(a, RunFiles.StepsFile));
        var again = Aw(Reproduce(dir));
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains("[1/2] attention-a: already done: 1 epoch(s)", again.Out);
        Assert.DoesNotContain(": training", again.Out);
        Assert.Equal(stepsBefore, File.ReadAllBytes(Path.Combine(a, RunFiles.StepsFile)));
        Assert.Equal(timeBefore, File.GetLastWriteTimeUtc(Path.Combine(a, RunFiles.StepsFile)));

        // More epochs continue the same runs from their checkpoints.
        var more = Aw(Reproduce(dir, "--epochs", "2"));
        Assert.True(more.Code == 0, more.Err);
        Assert.Contains("resuming", more.Out);
        Assert.Contains("after epoch 1 of 2", more.Out);
        Assert.Contains("resuming after epoch 1", more.Out);
        Assert.Equal(new[] { 1, 2 }, CsvLog<EpochRow>.ReadAll(Path.Combine(a, RunFiles.EpochsFile)).Select(e => e.Epoch));
        Assert.Equal("2", ReadCsv(dir.File("reports/table1.csv")).Single(r => r["row"] == "attention-a")["epochs"]);

        // --force trains the row again from scratch.
        var forced = Aw(Reproduce(dir, "--models", "b", "--force"));
        Assert.True(forced.Code == 0, forced.Err);
        Assert.Contains("--force: removing the previous run", forced.Out);
        Assert.Contains("[1/1] attention-b: training", forced.Out);
        Assert.Single(CsvLog<EpochRow>.ReadAll(Path.Combine(b, RunFiles.EpochsFile)));
        // The same seed gives the same first epoch.
        Assert.Equal(epochB with { EpochSeconds = 0, ImagesPerSecond = 0, PeakDeviceBytes = 0 },
            CsvLog<EpochRow>.ReadAll(Path.Combine(b, RunFiles.EpochsFile)).Single() with { EpochSeconds = 0, ImagesPerSecond = 0, PeakDeviceBytes = 0 });
    }

    [Fact]
    public void ACollapsedRowIsAResultTheNextRowStillTrainsAndAnInterruptedRunStartsAgain()
    {
        using var dir = Synthetic();
        // One step per epoch: epoch 1's loss is finite, Adam with lr 1e30 wrecks the weights, epoch 2's loss is not.
        var (code, output, error) = Aw(Reproduce(dir, "--lr", "1e30", "--batch-size", "64", "--epochs", "3"));
        Assert.True(code == 0, $"a collapse is a result, not a failure: exit {code}: {error}\n{output}");
        Assert.Contains("[1/2] attention-a: done: COLLAPSED, non-finite loss at epoch 2 step 1", output);
        Assert.Contains("[2/2] attention-b: training", output);
        var rows = ReadCsv(dir.File("reports/table1.csv"));
        foreach (var key in new[] { "attention-a", "attention-b" })
        {
            var row = rows.Single(r => r["row"] == key);
            Assert.Equal("diverged", row["status"]);
            Assert.Equal("true", row["collapsed"]);
            Assert.Contains("loss at epoch 2 step 1", row["note"]);
            Assert.Contains("accuracy at collapse", row["note"]);
            Assert.Contains("MODIFIED", row["budget"]);
        }
        string md = File.ReadAllText(dir.File("reports/table1.md"));
        Assert.Contains("**What collapsed.** Here: attention-a (", md);
        Assert.Contains("MODIFIED SET-UP", md);

        // A collapsed row counts as done.
        var again = Aw(Reproduce(dir, "--lr", "1e30", "--batch-size", "64", "--epochs", "3"));
        Assert.Equal(0, again.Code);
        Assert.Contains("already done: the loss became non-finite at epoch 2 step 1", again.Out);

        // A run killed before its first checkpoint has nothing to resume: it starts again.
        string run = dir.File("runs/table1-attention-b-n64-bs64-lr1E+30");
        Assert.True(Directory.Exists(run), string.Join(", ", Directory.GetDirectories(dir.File("runs"))));
        File.Delete(Path.Combine(run, "checkpoint.safetensors"));
        File.WriteAllText(Path.Combine(run, RunFiles.EpochsFile), File.ReadLines(Path.Combine(run, RunFiles.EpochsFile)).First() + "\n");
        File.WriteAllText(Path.Combine(run, RunFiles.StepsFile), File.ReadLines(Path.Combine(run, RunFiles.StepsFile)).First() + "\n");
        var restarted = Aw(Reproduce(dir, "--lr", "1e30", "--batch-size", "64", "--epochs", "3", "--models", "b"));
        Assert.True(restarted.Code == 0, restarted.Err);
        Assert.Contains("stopped before its first checkpoint: starting it again", restarted.Out);
        Assert.Contains("COLLAPSED", restarted.Out);

        // A folder holding another experiment is left alone and reported.
        var other = Aw("train", "--model", "attention-c", "--run", "table1-attention-a-n64-bs16", "--runs-dir", dir.File("runs"), "--data", dir.Path,
            "--epochs", "1", "--batch-size", "16", "--train-limit", "64", "--device", "cpu");
        Assert.Equal(0, other.Code);
        var mismatch = Aw(Reproduce(dir));
        Assert.Equal(ExitCodes.Error, mismatch.Code);
        Assert.Contains("holds a different experiment (model attention-c (expected attention-a))", mismatch.Err);
        Assert.Contains("[2/2] attention-b: training", mismatch.Out);
    }

    [Fact]
    public void EveryRowRunsOnATinyBudgetAndTheCifarRowsAreSkippedWithAReasonOrTrainedWhenGiven()
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, 16, 8, 4);
        var (code, output, error) = Aw("reproduce", "--epochs", "1", "--batch-size", "8", "--data", dir.Path, "--runs-dir", dir.File("runs"),
            "--out", dir.File("reports"), "--device", "cpu");
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        Assert.Contains("CIFAR-10 rows skipped (cifar10-control, cifar10-attention, cifar10-attention-segregated): no CIFAR-10 data", output);
        Assert.Contains("--cifar-data", output);
        var rows = ReadCsv(dir.File("reports/table1.csv"));
        Assert.All(rows.Where(r => !r["row"].StartsWith("cifar10", StringComparison.Ordinal)), r => Assert.NotEqual("not run", r["status"]));
        Assert.All(rows.Where(r => r["row"].StartsWith("cifar10", StringComparison.Ordinal)), r => Assert.Equal("skipped", r["status"]));
        // The single-head model is attention-a with one head; B without skip uses the segregated learning rate.
        var single = rows.Single(r => r["row"] == "single-head");
        Assert.Equal((2 * (2 * 16 + 9 + 1 + 2) + 10 * 16 + 10).ToString(CultureInfo.InvariantCulture), single["parameters"]);
        Assert.Equal("0.1", rows.Single(r => r["row"] == "b-no-skip-segregated")["attention_lr"]);
        Assert.Contains("no CIFAR-10 data", File.ReadAllText(dir.File("reports/table1.md")));

        // Naming a CIFAR-10 row without data is an error; with data, it trains on it.
        var named = Aw("reproduce", "--models", "cifar10-attention", "--data", dir.Path, "--runs-dir", dir.File("runs"), "--out", dir.File("reports"));
        Assert.Equal(ExitCodes.Error, named.Code);
        Assert.Contains("--cifar-data", named.Err);
        string cifar = dir.File("cifar");
        Directory.CreateDirectory(cifar);
        var rng = new Random(3);
        byte[] Pixels(int n) => Enumerable.Range(0, n * Cifar10.PixelBytes).Select(_ => (byte)rng.Next(256)).ToArray();
        foreach (var f in Cifar10.TrainFiles)
            Cifar10.Write(Path.Combine(cifar, f), [1, 2], Pixels(2));
        Cifar10.Write(Path.Combine(cifar, Cifar10.TestFile), [3, 4], Pixels(2));
        var trained = Aw("reproduce", "--models", "cifar10-attention-segregated", "--epochs", "1", "--cifar-data", cifar, "--runs-dir", dir.File("runs"),
            "--out", dir.File("reports"), "--device", "cpu");
        Assert.True(trained.Code == 0, trained.Err);
        var row = ReadCsv(dir.File("reports/table1.csv")).Single(r => r["row"] == "cifar10-attention-segregated");
        Assert.Equal("completed", row["status"]);
        Assert.Equal("10", row["train_images"]);
        Assert.Equal("1024", row["batch_size"]);
        Assert.Equal("0.1", row["attention_lr"]);
        Assert.Equal("229942", row["parameters"]);

        // Rewritten without training: the trained CIFAR-10 row stays, the others are skipped with the reason.
        var again = Aw("reproduce", "--report-only", "--data", dir.Path, "--runs-dir", dir.File("runs"), "--out", dir.File("again"), "--device", "cpu");
        Assert.True(again.Code == 0, again.Err);
        var rewritten = ReadCsv(dir.File("again/table1.csv"));
        Assert.Equal("completed", rewritten.Single(r => r["row"] == "cifar10-attention-segregated")["status"]);
        Assert.Equal("skipped", rewritten.Single(r => r["row"] == "cifar10-control")["status"]);
        Assert.Contains("CIFAR-10 rows skipped (cifar10-control, cifar10-attention): no CIFAR-10 data", File.ReadAllText(dir.File("again/table1.md")));
    }

    [Fact]
    public void TheTableHoldsThePapersFiguresAndTheReportWritesThemWithoutRuns()
    {
        Assert.Equal(14, Table1.Rows.Count);
        var b = Table1.Find("b")!;
        Assert.Equal("attention-b", b.Key);
        Assert.Equal((7.5913, 81.46, 0.000029, 33_084L), (b.Paper.LossSum, b.Paper.Accuracy!.Value, b.Paper.LastGradientAverage, b.Paper.Parameters!.Value));
        Assert.True(Table1.Find("attention-a")!.Paper.Collapsed);
        Assert.Null(Table1.Find("c")!.Paper.Accuracy);
        Assert.Equal(new AttentionOverrides(Heads: 1), Table1.Find("single-head")!.Overrides);
        Assert.Equal(0.1f, Table1.Find("cifar10-attention-segregated")!.AttentionLearningRate);
        Assert.Throws<ArgumentException>(() => Table1.Select("b,zz"));
        Assert.Equal(new[] { "control", "attention-b" }, Table1.Select("B, control").Select(r => r.Key));

        var budget = new Budget(3, TrainLimit: 2048, TestLimit: 500, BatchSize: 4096, LearningRate: 0.001f, Seed: 1);
        Assert.Equal("table1-attention-b-n2048-t500", budget.RunName(b));
        Assert.Equal("table1-attention-b-bs64-lr0.01-s7", new Budget(1, BatchSize: 64, LearningRate: 0.01f, Seed: 7).RunName(b));
        Assert.True(Budget.IsRunOf(b, "table1-attention-b-n2048-t500"));
        Assert.True(Budget.IsRunOf(b, "table1-attention-b-lr1E-05-s3"));
        Assert.False(Budget.IsRunOf(b, "table1-b-no-skip-segregated"));
        Assert.False(Budget.IsRunOf(Table1.Find("attention-b")!, "table1-attention-bb"));

        using var dir = new TempDir();
        var results = Table1Report.Collect(dir.File("none"), Budget.Paper);
        var csv = Table1Report.Csv(results, DateTimeOffset.UnixEpoch);
        var rows = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(15, rows.Length);
        Assert.StartsWith("row,experiment,model,dataset,status,collapsed,note,reduced,budget,epochs,train_images,test_images,batch_size,lr,attention_lr,seed,parameters,paper_parameters,loss_sum,paper_loss_sum", rows[0]);
        Assert.StartsWith("control,Control,control,fashion-mnist,not run,", rows[1]);
        Assert.Contains(",929510,,4.5083,", rows[1]);
        Assert.Contains("\"NaN (collapsed, 9.99%)\"", rows[2]);
        Assert.Contains(",43.10 (peak 44.63 at epoch 9),", rows[14]);
        string md = Table1Report.Markdown(results, Budget.Paper, "CPU", DateTimeOffset.UnixEpoch, []);
        Assert.Contains("| — / 4.5083 |", md);
        Assert.Contains("no runs yet", md);
        Assert.Equal("3 min 05 s", Table1Report.Duration(185));
        Assert.Equal("35 min", Table1Report.Duration(35 * 60));
        Assert.Equal("1 h 10 min", Table1Report.Duration(70 * 60));
    }

    [Fact]
    public void BadOptionsAreUsageErrors()
    {
        var rows = Aw("reproduce", "--models", "b,nope");
        Assert.Equal(ExitCodes.Usage, rows.Code);
        Assert.Contains("Valid rows: control, attention-a", rows.Err);
        var epochs = Aw("reproduce", "--epochs", "0");
        Assert.Equal(ExitCodes.Usage, epochs.Code);
        var device = Aw("reproduce", "--device", "42");
        Assert.Equal(ExitCodes.Usage, device.Code);
        Assert.Contains("There is no device 42", device.Err);
        var help = Aw("reproduce", "--help");
        foreach (var option in new[] { "--models", "--epochs", "--train-limit", "--test-limit", "--device", "--data", "--cifar-data", "--out", "--runs-dir", "--seed", "--force" })
            Assert.Contains(option, help.Out);
    }
}
