using System.Globalization;
using AttentionWise.Tests.Data;
using AttentionWise.Tests.Visualization;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Cli;
using AttentionWise.Training.Models;
using AttentionWise.Training.Reproduction;
using AttentionWise.Training.Training;
using AttentionWise.Training.Visualization;

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

    /// <summary>Decodes a PNG written by the project and checks its size and that it shows something.</summary>
    private static void AssertPicture(string path, int minWidth, int minHeight, int minColours = 20)
    {
        Assert.True(File.Exists(path), $"{path} was not written");
        var (w, h, rgb) = PngReader.Decode(File.ReadAllBytes(path));
        Assert.True(w >= minWidth && h >= minHeight, $"{path} is {w}×{h}, expected at least {minWidth}×{minHeight}");
        int colours = PngReader.DistinctColours(rgb);
        Assert.True(colours >= minColours, $"{path} has only {colours} distinct colours");
        bool magenta = Enumerable.Range(0, rgb.Length / 3).Any(i => rgb[3 * i] == 255 && rgb[3 * i + 1] == 0 && rgb[3 * i + 2] == 255);
        Assert.False(magenta, $"{path} shows non-finite values (magenta)");
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
        // 8 heads of 8×8 weights at 4 px per value in 6 columns; 8 heads × 7 stages; 2 layers × 6 stages.
        AssertPicture(Path.Combine(figures, "weights-layer0.png"), 6 * 32, 4 * 32);
        AssertPicture(Path.Combine(figures, "heads-layer1.png"), 7 * 32, 8 * 32);
        AssertPicture(Path.Combine(figures, "stages-image2.png"), 6 * 32, 2 * 32);
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
        AssertPicture(dir.File("fig/conv1-filters.png"), 100, 100);
        AssertPicture(dir.File("fig/conv1-maps-image0.png"), 100, 100);
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
        Assert.Equal("0.00128", Canvas.Format(0.00128f));
        Assert.Equal("12.3", Canvas.Format(12.34f));
        Assert.Equal("-1.5E-5", Canvas.Format(-1.5e-5f));
    }

    [Fact]
    public void SweepWritesOneRowPerModelKeepsOtherModelsRowsAndPlots()
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
        Assert.Equal("model,parameters,batch_size,ms_per_step,images_per_second,peak_memory_mb,epochs,train_limit,test_accuracy,device,status,date", lines[0]);
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
        }
        Assert.Single(CsvLog<EpochRow>.ReadAll(dir.File("runs/sweep-control/epochs.csv")));
        long controlParameters = long.Parse(lines[1].Split(',')[1], CultureInfo.InvariantCulture);
        using (var device = ComputeDevice.Open("cpu"))
        using (var control = ModelRegistry.Create(device, ModelRegistry.Configure("control", 1, 4, 4)))
            Assert.Equal(control.Network.ParameterCount, controlParameters);

        // A plot where python3 with matplotlib is installed, else a line that says how to draw it.
        if (File.Exists(dir.File("reports/sweep.png")))
        {
            Assert.Contains("wrote " + dir.File("reports/sweep.png"), output);
            var (w, h) = PngReader.ReadSize(File.ReadAllBytes(dir.File("reports/sweep.png")));
            Assert.True(w > 400 && h > 300);
        }
        else
        {
            Assert.Contains("no plot", output);
            Assert.Contains("--sweep", output);
        }

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
    public void ThePlotScriptIsFoundFromTheRepository()
    {
        var script = Sweep.FindPlotScript();
        Assert.NotNull(script);
        Assert.EndsWith(Path.Combine("scripts", "plot.py"), script);
    }
}
