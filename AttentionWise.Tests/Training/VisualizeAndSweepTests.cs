using System.Globalization;
using AttentionWise.Tests.Data;
using AttentionWise.Tests.Visualization;
using AttentionWise.Tool.Cli;
using AttentionWise.Tool.Reproduction;
using AttentionWise.Tool.Visualization;
using AttentionWise.Training;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Models;

namespace AttentionWise.Tests.Training;

/// <summary>`aw visualize` and `aw sweep` through the command line on small synthetic datasets (CPU).</summary>
public class VisualizeAndSweepTests
{
    private static (int Code, string Out, string Err) Aw(params string[] args) => CliTests.Aw(args);

    private static string TrainOne(TempDir dir, string model, string run, int size)
    {
        var (code, output, error) = Aw("train", "--model", model, "--run", run, "--runs-dir", dir.File("runs"), "--data", dir.Path, "--epochs", "1",
            "--batch-size", "16", "--lr", "0.003", "--device", "cpu");
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        return Path.Combine(dir.File("runs"), run, Checkpoint.FileName);
    }

    [Fact]
    public void AttentionCheckpointsGiveWeightHeadAndStageFigures()
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, 64, 24, 8);
        string checkpoint = TrainOne(dir, "attention-a", "a", 8);
        var (code, output, error) = Aw("visualize", "--checkpoint", checkpoint, "--images", "3", "--device", "cpu");
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        string figures = Path.Combine(Path.GetDirectoryName(checkpoint)!, "figures");
        var expected = new[] { "weights-layer0.png", "weights-layer1.png", "heads-layer0.png", "heads-layer1.png", "stages-image0.png", "stages-image1.png", "stages-image2.png" };
        Assert.Equal(expected.Order(), Directory.GetFiles(figures).Select(Path.GetFileName).Order());
        // 8×8 images at 5 px per value: 8 heads × 3 panels in 6 columns; 8 heads × 7 stages; 2 layers × 6 stages.
        foreach (var f in expected)
            Pictures.AssertFigure(Path.Combine(figures, f), output, 200, 150).Dispose();
        using (var weights = Pictures.Decode(Path.Combine(figures, "weights-layer0.png")))
            Assert.True(weights.Width >= 6 * 40 && weights.Height >= 4 * 40, $"{weights.Width}×{weights.Height}");
        using (var heads = Pictures.Decode(Path.Combine(figures, "heads-layer1.png")))
            Assert.True(heads.Width >= 7 * 40 && heads.Height >= 8 * 40, $"{heads.Width}×{heads.Height}");
        using (var stages = Pictures.Decode(Path.Combine(figures, "stages-image2.png")))
        {
            Assert.True(stages.Width >= 6 * 40 && stages.Height >= 2 * 40, $"{stages.Width}×{stages.Height}");
            // Signed stages use the diverging map (reds and blues), the others Viridis (its yellow end is there).
            Assert.True(Pictures.CountNear(stages, new SkiaSharp.SKColor(253, 231, 37), 30) > 0, "no Viridis yellow in the stages");
        }
        Assert.Contains("wrote", output);
        Assert.Contains("7 figure(s)", output);

        // Without the dataset: the weights only, and a line that says why.
        using var empty = new TempDir();
        var weightsOnly = Aw("visualize", "--checkpoint", checkpoint, "--data", empty.Path, "--out", empty.File("fig"), "--device", "cpu");
        Assert.True(weightsOnly.Code == 0, weightsOnly.Err);
        Assert.Contains("no test-image figures", weightsOnly.Out);
        Assert.Equal(new[] { "weights-layer0.png", "weights-layer1.png" }, Directory.GetFiles(empty.File("fig")).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void ControlCheckpointsGiveFilterAndFeatureMapFigures()
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, 32, 16, 4);
        string checkpoint = TrainOne(dir, "control", "c", 4);
        var (code, output, error) = Aw("visualize", "--checkpoint", checkpoint, "--images", "1", "--out", dir.File("fig"), "--device", "cpu");
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        Pictures.AssertFigure(dir.File("fig/conv1-filters.png"), output, 100, 100).Dispose();
        Pictures.AssertFigure(dir.File("fig/conv1-maps-image0.png"), output, 100, 100).Dispose();
        Assert.Equal(2, Directory.GetFiles(dir.File("fig")).Length);

        var missing = Aw("visualize", "--checkpoint", dir.File("nothing.safetensors"));
        Assert.Equal(ExitCodes.Error, missing.Code);
        Assert.Contains("nothing.safetensors", missing.Err);
    }

    [Fact]
    public void SoftmaxesOfTheWeightFigureSumToOneAlongTheirAxis()
    {
        var rng = new Random(5);
        var v = Enumerable.Range(0, 5 * 7).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var rows = Visualizer.RowSoftmax(v, 5, 7);
        var cols = Visualizer.ColumnSoftmax(v, 5, 7);
        for (int i = 0; i < 5; i++)
            Assert.Equal(1.0, Enumerable.Range(0, 7).Sum(j => (double)rows[i * 7 + j]), 5);
        for (int j = 0; j < 7; j++)
            Assert.Equal(1.0, Enumerable.Range(0, 5).Sum(i => (double)cols[i * 7 + j]), 5);
        // The largest input of a row has the largest weight.
        int argmax = Enumerable.Range(0, 7).MaxBy(j => v[j]);
        Assert.Equal(argmax, Enumerable.Range(0, 7).MaxBy(j => rows[j]));
    }

    [Fact]
    public void SweepWritesOneRowPerModelKeepsOtherModelsRowsAndPlotsThem()
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, 48, 16, 4);
        string[] Sweep(string models) =>
        [
            "sweep", "--models", models, "--batch-size", "8", "--steps", "2", "--warmup", "1", "--epochs", "1", "--train-limit", "32", "--data", dir.Path,
            "--out", dir.File("reports"), "--runs-dir", dir.File("runs"), "--device", "cpu",
        ];
        var (code, output, error) = Aw(Sweep("attention-b,control"));
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        string csv = dir.File("reports/sweep.csv");
        var lines = File.ReadAllLines(csv);
        Assert.Equal("model,parameters,batch_size,ms_per_step,images_per_second,peak_memory_mb,epochs,train_limit,test_accuracy,loss_sum,test_loss,device,status,date", lines[0]);
        Assert.Equal(new[] { "control", "attention-b" }, lines.Skip(1).Select(l => l.Split(',')[0]));
        foreach (var line in lines.Skip(1))
        {
            var f = line.Split(',');
            Assert.True(long.Parse(f[1], CultureInfo.InvariantCulture) > 0);
            Assert.Equal("8", f[2]);
            double ms = double.Parse(f[3], CultureInfo.InvariantCulture), ips = double.Parse(f[4], CultureInfo.InvariantCulture);
            Assert.True(ms > 0 && ips > 0);
            Assert.Equal(8000 / ms, ips, 0.02 * ips + 0.5);
            Assert.True(double.Parse(f[5], CultureInfo.InvariantCulture) > 0);
            Assert.Equal(("1", "32"), (f[6], f[7]));
            double accuracy = double.Parse(f[8], CultureInfo.InvariantCulture);
            Assert.InRange(accuracy, 0, 100);
            Assert.Equal("completed", f[^2]);
            var last = CsvLog<EpochRow>.ReadAll(dir.File($"runs/sweep-{f[0]}/epochs.csv"))[^1];
            Assert.Equal((last.LossSum, last.TestLoss), (double.Parse(f[9], CultureInfo.InvariantCulture), double.Parse(f[10], CultureInfo.InvariantCulture)));
        }
        Assert.Single(CsvLog<EpochRow>.ReadAll(dir.File("runs/sweep-control/epochs.csv")));
        long controlParameters = long.Parse(lines[1].Split(',')[1], CultureInfo.InvariantCulture);
        using (var device = ComputeDevice.Open("cpu"))
        using (var control = ModelRegistry.Create(device, ModelRegistry.Configure("control", 1, 4, 4)))
            Assert.Equal(control.Network.ParameterCount, controlParameters);

        // The plot: one point per trained model, labelled, drawn without any other program.
        string png = dir.File("reports/sweep.png");
        using (var plot = Pictures.AssertFigure(png, output, 800, 500))
            Assert.True(Pictures.CountNear(plot, new SkiaSharp.SKColor(31, 119, 180), 60) > 50, "no attention-model point (blue) in the sweep plot");

        // Another model later: its row is added, the others stay.
        var more = Aw(Sweep("attention-a"));
        Assert.True(more.Code == 0, more.Err);
        Assert.Equal(new[] { "control", "attention-a", "attention-b" }, File.ReadAllLines(csv).Skip(1).Select(l => l.Split(',')[0]));
        Assert.Equal(lines[1], File.ReadAllLines(csv)[1]);

        // Unknown models and CIFAR-10 without data are errors.
        var bad = Aw("sweep", "--models", "nope");
        Assert.Equal(ExitCodes.Usage, bad.Code);
        Assert.Contains("Valid models", bad.Err);
        var cifar = Aw("sweep", "--models", "attention-cifar", "--data", dir.Path, "--out", dir.File("reports"), "--device", "cpu");
        Assert.Equal(ExitCodes.Error, cifar.Code);
        Assert.Contains("--cifar-data", cifar.Err);
    }

    [Fact]
    public void SweepPlotOnlyRedrawsThePlotFromTheCsvAndListsTimedOnlyModels()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("reports"));
        string csv = dir.File("reports/sweep.csv");
        File.WriteAllText(csv, string.Join(",", SweepRow.Columns) + "\n" + string.Concat(new[]
        {
            new SweepRow("control", 929_510, 4096, 367_302.67, 11.2, 2274.3, 0, null, double.NaN, "CPU (2 threads, compat)", "timed", "2026-11-22 07:14 +00:00"),
            new SweepRow("attention-a", 33_088, 4096, 946.4, 4327.8, 1171.6, 1, 2048, 61.58, "CPU (2 threads, compat)", "completed", "2026-11-22 07:06 +00:00"),
            new SweepRow("attention-b", 33_084, 4096, 930.5, 4402, 1122.6, 1, null, 63.56, "CPU (2 threads, compat)", "completed", "2026-11-22 07:06 +00:00"),
            new SweepRow("attention-h", 108_782, 4096, 3671.3, 1115.7, 3914.8, 1, null, double.NaN, "CPU (2 threads, compat)", "diverged at epoch 1 step 3", "2026-11-22 07:06 +00:00"),
        }.Select(r => r.ToCsv() + "\n")));
        var rows = Sweep.ReadCsv(csv);
        Assert.Equal(new[] { "control", "attention-a", "attention-b", "attention-h" }, rows.Select(r => r.Model));
        Assert.Equal("CPU (2 threads, compat)", rows[0].Device);
        Assert.Equal((int?)2048, rows[1].TrainLimit);
        Assert.True(double.IsNaN(rows[0].TestAccuracy));
        Assert.True(SweepPlot.TimedOnly(rows[0]));
        Assert.False(SweepPlot.TimedOnly(rows[3]));

        var (code, output, error) = Aw("sweep", "--plot-only", "--out", dir.File("reports"));
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        using (var plot = Pictures.AssertFigure(dir.File("reports/sweep.png"), output, 800, 500))
        {
            // The diverged model is a red-free cross in the attention colour; the timed-only control is not a point.
            Assert.Equal(0, Pictures.CountNear(plot, new SkiaSharp.SKColor(214, 39, 40), 40));
            Assert.True(Pictures.CountNear(plot, new SkiaSharp.SKColor(31, 119, 180), 60) > 50);
        }
        Assert.Equal(new[] { "sweep.csv", "sweep.png" }, Directory.GetFiles(dir.File("reports")).Select(Path.GetFileName).Order());
        var figure = SweepPlot.Build(rows, "sweep.csv");
        Assert.True(figure.Height > 560, "the notes under the plot are missing");
        Assert.Equal("930 ms/step", SweepPlot.StepTime(930.49));
        Assert.Equal("3.7 s/step", SweepPlot.StepTime(3671.3));
        Assert.Equal("367 s/step", SweepPlot.StepTime(367_302.67));

        // A missing or damaged sweep.csv is an error that names it.
        using var empty = new TempDir();
        var missing = Aw("sweep", "--plot-only", "--out", empty.Path);
        Assert.Equal(ExitCodes.Error, missing.Code);
        Assert.StartsWith("aw: error: ", missing.Err);
        Assert.Contains(Path.Combine(empty.Path, "sweep.csv"), missing.Err);
        File.WriteAllText(empty.File("sweep.csv"), File.ReadAllText(csv)[..^20]);
        var truncated = Aw("sweep", "--plot-only", "--out", empty.Path);
        Assert.Equal(ExitCodes.Error, truncated.Code);
        Assert.Contains("truncated", truncated.Err);
        File.WriteAllText(empty.File("sweep.csv"), File.ReadAllText(csv).Replace("946.4", "fast", StringComparison.Ordinal));
        var damaged = Aw("sweep", "--plot-only", "--out", empty.Path);
        Assert.Equal(ExitCodes.Error, damaged.Code);
        Assert.Contains("line 3", damaged.Err);
        Assert.Contains("'fast'", damaged.Err);
        Assert.False(File.Exists(empty.File("sweep.png")));
        Assert.Equal(ExitCodes.Usage, Aw("sweep", "--plot-only", "--no-plot").Code);
    }
}
