using System.Xml.Linq;
using AttentionWise.Tests.Data;
using AttentionWise.Tests.Visualization;
using AttentionWise.Tool.Cli;
using AttentionWise.Tool.Visualization;
using AttentionWise.Training;
using SkiaSharp;

namespace AttentionWise.Tests.Training;

/// <summary>`aw plot` on run folders written by `aw train` (tiny runs on a synthetic set, CPU).</summary>
public class PlotCommandTests
{
    // ScottPlot's Category10: the first two runs' colours.
    private static readonly SKColor First = new(31, 119, 180);
    private static readonly SKColor Second = new(255, 127, 14);

    private static (int Code, string Out, string Err) Aw(params string[] args) => CliTests.Aw(args);

    /// <summary>Two runs of attention-b on 8×8 images, 2 epochs of 4 steps each.</summary>
    private static TempDir TwoRuns()
    {
        var dir = new TempDir();
        SyntheticData.Write(dir.Path, 64, 24, 8);
        foreach (var (run, lr) in new[] { ("fast", "0.01"), ("slow", "0.001") })
        {
            var (code, output, error) = Aw("train", "--model", "attention-b", "--run", run, "--runs-dir", dir.File("runs"), "--data", dir.Path,
                "--epochs", "2", "--batch-size", "16", "--lr", lr, "--device", "cpu");
            Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        }
        return dir;
    }

    [Fact]
    public void OneRunGivesStepAndEpochFiguresInItsFolder()
    {
        using var dir = TwoRuns();
        string run = dir.File("runs/fast");
        var (code, output, error) = Aw("plot", run);
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        Assert.Equal(new[] { "epochs.png", "steps.png" }, Directory.GetFiles(Path.Combine(run, "figures")).Select(Path.GetFileName).Order());
        using (var steps = Pictures.AssertFigure(Path.Combine(run, "figures", "steps.png"), output, 900, 400))
            Assert.True(Pictures.CountNear(steps, First) > 100, "the run's line is not drawn");
        using (var epochs = Pictures.AssertFigure(Path.Combine(run, "figures", "epochs.png"), output, 1300, 400))
        {
            Assert.True(Pictures.CountNear(epochs, First) > 100, "the run's lines are not drawn");
            Assert.Equal(0, Pictures.CountNear(epochs, Second));
        }
    }

    [Fact]
    public void SeveralRunsShareTheAxesAndSvgIsWrittenOnRequest()
    {
        using var dir = TwoRuns();
        var (code, output, error) = Aw("plot", dir.File("runs/fast"), dir.File("runs/slow"), "--out", dir.File("plots"));
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        foreach (var f in new[] { "steps.png", "epochs.png" })
        {
            using var bitmap = Pictures.AssertFigure(dir.File("plots/" + f), output, 900, 400);
            Assert.True(Pictures.CountNear(bitmap, First) > 100, $"{f}: no line of the first run");
            Assert.True(Pictures.CountNear(bitmap, Second) > 100, $"{f}: no line of the second run");
        }

        var svg = Aw("plot", dir.File("runs/fast"), dir.File("runs/slow"), "--out", dir.File("svg"), "--format", "svg");
        Assert.True(svg.Code == 0, svg.Err);
        foreach (var f in new[] { "steps.svg", "epochs.svg" })
        {
            var root = XDocument.Load(dir.File("svg/" + f)).Root!;
            Assert.Equal("svg", root.Name.LocalName);
            var (w, h) = Pictures.ReportedSize(svg.Out, dir.File("svg/" + f));
            Assert.Equal(w.ToString(System.Globalization.CultureInfo.InvariantCulture), root.Attribute("width")?.Value);
            Assert.Equal(h.ToString(System.Globalization.CultureInfo.InvariantCulture), root.Attribute("height")?.Value);
            // Titles, axis labels and the legend are text.
            var text = string.Concat(root.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value));
            Assert.Contains("fast", text);
            Assert.Contains("slow", text);
            Assert.Contains("Epoch", File.ReadAllText(dir.File("svg/epochs.svg")));
        }

        var bad = Aw("plot", dir.File("runs/fast"), "--format", "jpeg");
        Assert.Equal(ExitCodes.Usage, bad.Code);
        Assert.Contains("png, svg", bad.Err);
        Assert.Equal(ExitCodes.Usage, Aw("plot").Code);
    }

    [Fact]
    public void AMissingOrTruncatedEpochsCsvIsAnErrorThatNamesTheFile()
    {
        using var dir = TwoRuns();
        string run = dir.File("runs/fast");
        string epochs = Path.Combine(run, RunFiles.EpochsFile);
        string good = File.ReadAllText(epochs);

        void Fails(string expected)
        {
            var (code, output, err) = Aw("plot", run, dir.File("runs/slow"), "--out", dir.File("plots"));
            Assert.DoesNotContain("wrote", output);
            Assert.Equal(ExitCodes.Error, code);
            Assert.StartsWith("aw: error: ", err);
            Assert.Contains(epochs, err);
            Assert.Contains(expected, err);
            Assert.DoesNotContain("   at ", err);
            Assert.False(Directory.Exists(dir.File("plots")), "figures were written from a bad run");
        }

        File.Delete(epochs);
        Fails("does not exist");
        File.WriteAllText(epochs, good[..^7]);
        Fails("truncated");
        File.WriteAllText(epochs, good[..(good.IndexOf('\n', StringComparison.Ordinal) + 1)]);
        Fails("no rows");
        File.WriteAllText(epochs, "");
        Fails("empty");
        var lines = good.Split('\n');
        File.WriteAllText(epochs, lines[0] + "\n" + string.Join(",", lines[1].Split(',').Take(4)) + "\n");
        Fails("fields");
        File.WriteAllText(epochs, good.Replace("epoch,loss_sum", "epoch,loss", StringComparison.Ordinal));
        Fails("header");

        // Restored, it plots again; a folder that is not there is named too.
        File.WriteAllText(epochs, good);
        Assert.Equal(0, Aw("plot", run, dir.File("runs/slow"), "--out", dir.File("plots")).Code);
        var missing = Aw("plot", dir.File("runs/nothing"));
        Assert.Equal(ExitCodes.Error, missing.Code);
        Assert.Contains(dir.File("runs/nothing"), missing.Err);
    }

    [Fact]
    public void ValuesThatSpanDecadesGetALogAxis()
    {
        var decades = RunPlots.Lines("Loss", "Epoch", "Loss", [[(1, 10.0), (2, 1.0), (3, 0.05)]], markers: true, integerX: true);
        var linear = RunPlots.Lines("Accuracy", "Epoch", "Accuracy (%)", [[(1, 40.0), (2, 70.0), (3, 80.0)]], markers: true, integerX: true);
        Assert.Equal("Loss (log scale)", decades.Plot.Axes.Left.Label.Text);
        Assert.Equal("Accuracy (%)", linear.Plot.Axes.Left.Label.Text);
        // The log axis plots log10 of the values.
        var ys = decades.Plot.GetPlottables<ScottPlot.Plottables.Scatter>().Single().Data.GetScatterPoints().Select(p => p.Y).ToList();
        Assert.Equal(3, ys.Count);
        Assert.Equal(1.0, ys[0], 9);
        Assert.Equal(0.0, ys[1], 9);
        Assert.Equal(Math.Log10(0.05), ys[2], 6);
    }
}
