using System.Globalization;
using System.Text.Json.Nodes;
using AttentionWise.Tests.Data;
using AttentionWise.Tool;
using AttentionWise.Tool.Cli;
using AttentionWise.Training;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;

namespace AttentionWise.Tests.Training;

/// <summary>The `aw` command line end to end, on small synthetic datasets the tests write (CPU).</summary>
public class CliTests
{
    /// <summary>The model of the end-to-end runs: small enough to train in well under a second per epoch.</summary>
    private const string Model = "attention-b";
    private const int ImageSize = 8;
    private const int TrainImages = 120;
    private const int TestImages = 60;

    internal static (int Code, string Out, string Err) Aw(params string[] args)
    {
        var output = new StringWriter(CultureInfo.InvariantCulture);
        var error = new StringWriter(CultureInfo.InvariantCulture);
        int code = Program.Run(args, output, error, interactive: false);
        return (code, output.ToString(), error.ToString());
    }

    private static TempDir Synthetic()
    {
        var dir = new TempDir();
        SyntheticData.Write(dir.Path, TrainImages, TestImages, ImageSize);
        return dir;
    }

    /// <summary>`aw train` on the synthetic set with the tests' defaults; <paramref name="extra"/> adds or replaces options.</summary>
    private static string[] Train(TempDir dir, string run, params string[] extra)
    {
        var options = new Dictionary<string, string>
        {
            ["--model"] = Model, ["--data"] = dir.Path, ["--runs-dir"] = Path.Combine(dir.Path, "runs"), ["--run"] = run,
            ["--device"] = "cpu", ["--batch-size"] = "16", ["--lr"] = "0.003", ["--seed"] = "7",
        };
        for (int i = 0; i + 1 < extra.Length; i += 2)
            options[extra[i]] = extra[i + 1];
        return ["train", .. options.SelectMany(o => new[] { o.Key, o.Value })];
    }

    /// <summary>A CSV's lines with the timing columns removed.</summary>
    private static List<string> WithoutTiming(string path)
    {
        var lines = File.ReadAllLines(path);
        var header = lines[0].Split(',');
        var drop = EpochRow.TimingColumns.Select(c => Array.IndexOf(header, c)).Where(i => i >= 0).ToHashSet();
        return lines.Select(l => string.Join(",", SplitCsv(l).Where((_, i) => !drop.Contains(i)))).ToList();
    }

    private static IEnumerable<string> SplitCsv(string line)
    {
        var field = new System.Text.StringBuilder();
        bool quoted = false;
        foreach (char ch in line)
        {
            if (ch == '"')
                quoted = !quoted;
            else if (ch == ',' && !quoted)
            {
                yield return field.ToString();
                field.Clear();
                continue;
            }
            field.Append(ch);
        }
        yield return field.ToString();
    }

    [Fact]
    public void TrainsTwoEpochsAboveChanceWritesEveryFileAndIsDeterministic()
    {
        using var dir = Synthetic();
        var (code, output, error) = Aw(Train(dir, "a", "--epochs", "2"));
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        Assert.Contains("epoch 2/2", output);
        string run = Path.Combine(dir.Path, "runs", "a");

        var epochLines = File.ReadAllLines(Path.Combine(run, "epochs.csv"));
        Assert.Equal("epoch,loss_sum,loss_mean,test_accuracy,last_grad_mean,epoch_seconds,images_per_second,device,train_accuracy,test_loss,peak_device_bytes", epochLines[0]);
        var epochs = CsvLog<EpochRow>.ReadAll(Path.Combine(run, "epochs.csv"));
        Assert.Equal(new[] { 1, 2 }, epochs.Select(e => e.Epoch));
        int steps = (TrainImages + 15) / 16;
        var stepRows = CsvLog<StepRow>.ReadAll(Path.Combine(run, "steps.csv"));
        Assert.Equal("epoch,step,loss,grad_mean", File.ReadAllLines(Path.Combine(run, "steps.csv"))[0]);
        Assert.Equal(2 * steps, stepRows.Count);
        Assert.Equal(Enumerable.Range(1, steps).Concat(Enumerable.Range(1, steps)), stepRows.Select(s => s.Step));
        foreach (var e in epochs)
        {
            var mine = stepRows.Where(s => s.Epoch == e.Epoch).ToList();
            // loss_sum is the sum of the batch means; last_grad_mean the last step's gradient mean.
            Assert.Equal(mine.Sum(s => (double)s.Loss), e.LossSum, 6);
            Assert.Equal(e.LossSum / steps, e.LossMean, 9);
            Assert.Equal(mine[^1].GradMean, e.LastGradMean);
            Assert.NotEqual(0f, e.LastGradMean);
            Assert.True(e.ImagesPerSecond > 0 && e.EpochSeconds > 0);
            Assert.True(e.PeakDeviceBytes > 0);
            Assert.Contains("CPU", e.Device);
        }
        double chance = 100.0 / SyntheticData.Classes(ImageSize);
        Assert.True(epochs[^1].TestAccuracy > 2 * chance, $"test accuracy {epochs[^1].TestAccuracy}% is not above twice chance ({chance}%)");
        Assert.True(epochs[^1].LossSum < epochs[0].LossSum);

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "config.json")))!;
        Assert.Equal(Model, config["model"]!.GetValue<string>());
        Assert.Equal(7ul, config["seed"]!.GetValue<ulong>());
        Assert.Equal(16, config["training"]!["batch_size"]!.GetValue<int>());
        Assert.Equal("cpu", config["device"]!["kind"]!.GetValue<string>());
        Assert.Equal(ComputeDevice.IlgpuFlavor, config["ilgpu"]!.GetValue<string>());
        Assert.Contains(".NET", config["dotnet"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(config["attentionwise_version"]!.GetValue<string>()));
        Assert.True(DateTimeOffset.TryParse(config["start_time"]!.GetValue<string>(), CultureInfo.InvariantCulture, out _));
        Assert.Equal("completed", JsonNode.Parse(File.ReadAllText(Path.Combine(run, "summary.json")))!["status"]!.GetValue<string>());

        var (info, tensors) = Checkpoint.Load(Path.Combine(run, Checkpoint.FileName));
        Assert.Equal(2, info.Epoch);
        Assert.Equal(2L * steps, info.AdamStep);
        Assert.Equal(7ul, info.Seed);
        Assert.Equal(Model, info.Model.Name);
        Assert.Contains("layers.0.heads.wx", tensors.Keys);
        Assert.Contains("adam.m.layers.0.heads.wx", tensors.Keys);
        Assert.Contains("adam.v.classifier.bias", tensors.Keys);
        Assert.Contains(tensors.Keys, k => k.StartsWith("layers.1.heads.", StringComparison.Ordinal) && k.EndsWith("running_var", StringComparison.Ordinal));

        // The same command again gives the same files, apart from wall-time columns.
        var (code2, _, error2) = Aw(Train(dir, "b", "--epochs", "2"));
        Assert.True(code2 == 0, error2);
        string other = Path.Combine(dir.Path, "runs", "b");
        Assert.Equal(WithoutTiming(Path.Combine(run, "epochs.csv")), WithoutTiming(Path.Combine(other, "epochs.csv")));
        Assert.Equal(File.ReadAllLines(Path.Combine(run, "steps.csv")), File.ReadAllLines(Path.Combine(other, "steps.csv")));

        // aw eval on the checkpoint reproduces the last epoch's test accuracy.
        var (evalCode, evalOut, evalErr) = Aw("eval", "--checkpoint", Path.Combine(run, Checkpoint.FileName), "--device", "cpu");
        Assert.True(evalCode == 0, evalErr);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"accuracy {epochs[^1].TestAccuracy:0.00}%"), evalOut);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"loss {epochs[^1].TestLoss:0.000000}"), evalOut);
    }

    [Fact]
    public void TwoEpochsThenResumeEqualsThreeEpochsStraight()
    {
        using var dir = Synthetic();
        Assert.Equal(0, Aw(Train(dir, "straight", "--epochs", "3")).Code);
        Assert.Equal(0, Aw(Train(dir, "resumed", "--epochs", "2")).Code);
        // Resume takes the run's own settings: only --epochs is new.
        var (code, output, error) = Aw("train", "--resume", "--run", "resumed", "--runs-dir", Path.Combine(dir.Path, "runs"), "--epochs", "3", "--device", "cpu");
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        Assert.Contains("resuming after epoch 2", output);

        string a = Path.Combine(dir.Path, "runs", "straight"), b = Path.Combine(dir.Path, "runs", "resumed");
        Assert.Equal(WithoutTiming(Path.Combine(a, "epochs.csv")), WithoutTiming(Path.Combine(b, "epochs.csv")));
        Assert.Equal(File.ReadAllLines(Path.Combine(a, "steps.csv")), File.ReadAllLines(Path.Combine(b, "steps.csv")));
        var (infoA, ta) = Checkpoint.Load(Path.Combine(a, Checkpoint.FileName));
        var (infoB, tb) = Checkpoint.Load(Path.Combine(b, Checkpoint.FileName));
        Assert.Equal(infoA, infoB with { Settings = infoB.Settings with { Epochs = infoA.Settings.Epochs } });
        Assert.Equal(ta.Keys.Order(), tb.Keys.Order());
        foreach (var (name, t) in ta)
            Assert.True(t.Data.AsSpan().SequenceEqual(tb[name].Data), $"tensor {name} differs after resume");

        // Nothing left to do (3 epochs, or fewer than the run has): exit 0 without touching the files.
        var files = Hostile.Snapshot(b);
        foreach (string epochs in new[] { "3", "2" })
        {
            var again = Aw("train", "--resume", "--run", "resumed", "--runs-dir", Path.Combine(dir.Path, "runs"), "--device", "cpu", "--epochs", epochs);
            Assert.Equal(0, again.Code);
            Assert.Contains("already complete: 3 epoch(s) trained", again.Out);
            Hostile.Unchanged(files, b);
        }
        Assert.Equal(4, File.ReadAllLines(Path.Combine(b, "epochs.csv")).Length);

        // Options that disagree with the run are refused.
        var conflict = Aw("train", "--resume", "--run", "resumed", "--runs-dir", Path.Combine(dir.Path, "runs"), "--seed", "8", "--epochs", "4");
        Assert.Equal(ExitCodes.Usage, conflict.Code);
        Assert.Contains("--seed 8 (the run has 7)", conflict.Err);
        // A fresh run into an existing run directory is refused too.
        var exists = Aw(Train(dir, "resumed", "--epochs", "1"));
        Assert.Equal(ExitCodes.Usage, exists.Code);
        Assert.Contains("--resume", exists.Err);
    }

    [Fact]
    public void ANonFiniteLossStopsWithExitCodeThreeAndValidFiles()
    {
        using var dir = Synthetic();
        // One step per epoch: epoch 1's step is finite (initial weights), its Adam step with lr 1e30 blows the
        // weights up, and epoch 2's first loss is not finite.
        var (code, output, error) = Aw(Train(dir, "nan", "--epochs", "5", "--lr", "1e30", "--batch-size", TrainImages.ToString(CultureInfo.InvariantCulture)));
        Assert.True(code == ExitCodes.Diverged, $"exit {code}: {error}\n{output}");
        Assert.Contains("non-finite", error);
        Assert.Contains("at epoch 2, step 1", error);
        string run = Path.Combine(dir.Path, "runs", "nan");
        var steps = CsvLog<StepRow>.ReadAll(Path.Combine(run, "steps.csv"));
        Assert.Equal(2, steps.Count);
        Assert.True(float.IsFinite(steps[0].Loss));
        Assert.False(float.IsFinite(steps[1].Loss));
        Assert.Single(CsvLog<EpochRow>.ReadAll(Path.Combine(run, "epochs.csv")));
        Assert.Equal(1, Checkpoint.Load(Path.Combine(run, Checkpoint.FileName)).Info.Epoch);
        var summary = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "summary.json")))!;
        Assert.Equal("diverged", summary["status"]!.GetValue<string>());
        Assert.Equal(2, summary["diverged_at"]!["epoch"]!.GetValue<int>());
    }

    [Fact]
    public void AttentionOptionsAndTheSegregatedLearningRateReachTheModelAndTheConfig()
    {
        using var dir = Synthetic();
        var (code, output, error) = Aw(Train(dir, "options", "--epochs", "1", "--heads", "2", "--layers", "1", "--no-skip", "true",
            "--head-bias", "true", "--post-conv-bn", "true", "--attention-lr", "0.1"));
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "runs", "options", "config.json")))!;
        var attention = config["model_options"]!["attention"]!;
        Assert.Equal(2, attention["heads"]!.GetValue<int>());
        Assert.Equal(1, attention["layers"]!.GetValue<int>());
        Assert.False(attention["skip"]!.GetValue<bool>());
        Assert.True(attention["head_bias"]!.GetValue<bool>());
        Assert.True(attention["post_conv_batch_norm"]!.GetValue<bool>());
        Assert.Equal(0.1f, config["training"]!["attention_learning_rate"]!.GetValue<float>());
        // SPEC §2: 2·2·64·2 (x/y weights and biases) + 2·9 + 1 + 2 (batchnorm) + 10·64 + 10.
        Assert.Equal(2 * 2 * 64 * 2 + 18 + 1 + 2 + 640 + 10, config["parameters"]!.GetValue<long>());
        Assert.Contains("attention weights 0.1", output);
    }

    [Fact]
    public void TheControlModelTrainsThroughTheCommandLine()
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, 32, 16, 4);
        var (code, output, error) = Aw(Train(dir, "control", "--model", "control", "--epochs", "1"));
        Assert.True(code == 0, $"exit {code}: {error}\n{output}");
        var row = CsvLog<EpochRow>.ReadAll(Path.Combine(dir.Path, "runs", "control", "epochs.csv")).Single();
        Assert.True(double.IsFinite(row.LossSum) && row.LastGradMean != 0f);
        Assert.Contains("features.conv1.weight", Checkpoint.Load(Path.Combine(dir.Path, "runs", "control", Checkpoint.FileName)).Tensors.Keys);
    }

    [Fact]
    public void MicroBatchesOfTheControlModelTrainLikeTheWholeBatchAndAttentionModelsRefuseThem()
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, 40, 16, 4);
        // Batches of 16 (and a last one of 8) in parts of 5: 5+5+5+1 and 5+3.
        var whole = Aw(Train(dir, "whole", "--model", "control", "--epochs", "2"));
        var parts = Aw(Train(dir, "parts", "--model", "control", "--epochs", "2", "--micro-batch", "5"));
        Assert.True(whole.Code == 0 && parts.Code == 0, whole.Err + parts.Err);
        var a = CsvLog<StepRow>.ReadAll(Path.Combine(dir.Path, "runs", "whole", RunFiles.StepsFile));
        var b = CsvLog<StepRow>.ReadAll(Path.Combine(dir.Path, "runs", "parts", RunFiles.StepsFile));
        Assert.Equal(6, a.Count);
        Assert.Equal(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].Loss, b[i].Loss, 1e-4 * Math.Abs(a[i].Loss));
            Assert.Equal(a[i].GradMean, b[i].GradMean, 1e-3 * Math.Abs(a[i].GradMean) + 1e-9);
        }
        var wa = Checkpoint.Load(Path.Combine(dir.Path, "runs", "whole", Checkpoint.FileName)).Tensors["features.conv1.weight"].Data;
        var wb = Checkpoint.Load(Path.Combine(dir.Path, "runs", "parts", Checkpoint.FileName)).Tensors["features.conv1.weight"].Data;
        Assert.True(wa.Zip(wb).Max(p => Math.Abs(p.First - p.Second)) < 1e-5f);
        Assert.NotEqual(0f, wa.Zip(wb).Max(p => Math.Abs(p.First)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "runs", "parts", RunFiles.ConfigFile)))!;
        Assert.Equal(5, config["training"]!["micro_batch"]!.GetValue<int>());

        var refused = Aw(Train(dir, "attention", "--micro-batch", "4"));
        Assert.Equal(ExitCodes.Usage, refused.Code);
        Assert.Contains("batchnorm", refused.Err);
        Assert.False(File.Exists(Path.Combine(dir.Path, "runs", "attention", RunFiles.EpochsFile)));
    }

    [Theory]
    [InlineData("--model", "nope", "Valid models: control, attention-a, attention-b")]
    [InlineData("--dataset", "mnist", "Valid datasets: fashion-mnist, cifar10")]
    [InlineData("--epochs", "-1", "--epochs must be 0 or more")]
    [InlineData("--batch-size", "0", "--batch-size must be at least 1")]
    [InlineData("--epochs", "ten", "'ten'")]
    [InlineData("--lr", "-0.1", "--lr must be a positive number")]
    [InlineData("--train-limit", "0", "--train-limit must be at least 1")]
    [InlineData("--frobnicate", "1", "--frobnicate")]
    public void BadFlagsAreUsageErrorsThatNameTheValidChoices(string option, string value, string expected)
    {
        var (code, _, error) = Aw("train", option, value);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(expected, error);
        Assert.Contains("aw train --help", error);
    }

    [Fact]
    public void UnknownDevicesMissingDataAndConflictingOptionsAreReported()
    {
        using var dir = new TempDir();
        var device = Aw("train", "--device", "42", "--data", dir.Path);
        Assert.Equal(ExitCodes.Usage, device.Code);
        Assert.Contains("There is no device 42", device.Err);
        Assert.Contains("[0] cpu", device.Err);

        var missing = Aw("train", "--device", "cpu", "--data", dir.Path, "--runs-dir", dir.File("runs"));
        Assert.Equal(ExitCodes.Error, missing.Code);
        Assert.Contains("Fashion-MNIST not found", missing.Err);
        Assert.Contains(FashionMnist.TrainImages, missing.Err);

        SyntheticData.Write(dir.Path, 10, 10, 4);
        File.WriteAllText(dir.File(FashionMnist.TestLabels), "corrupt");
        var corrupt = Aw("train", "--device", "cpu", "--data", dir.Path, "--runs-dir", dir.File("runs"));
        Assert.Equal(ExitCodes.Error, corrupt.Code);
        Assert.Contains("not a gzip file", corrupt.Err);

        var cifar = Aw("train", "--dataset", "cifar10", "--device", "cpu", "--data", dir.Path, "--runs-dir", dir.File("runs"));
        Assert.Equal(ExitCodes.Error, cifar.Code);
        Assert.Contains("data_batch_1.bin", cifar.Err);

        var heads = Aw("train", "--model", "control", "--heads", "4", "--device", "cpu");
        Assert.Equal(ExitCodes.Usage, heads.Code);
        Assert.Contains("attention", heads.Err);

        var resume = Aw("train", "--resume");
        Assert.Equal(ExitCodes.Usage, resume.Code);
        Assert.Contains("--run", resume.Err);

        var eval = Aw("eval", "--checkpoint", dir.File("none.safetensors"));
        Assert.Equal(ExitCodes.Error, eval.Code);
        Assert.Contains("none.safetensors", eval.Err);
    }

    [Fact]
    public void HelpListsTheCommandsAndTheTrainingOptions()
    {
        var root = Aw("--help");
        Assert.Equal(0, root.Code);
        foreach (var command in new[] { "train", "eval", "params", "devices" })
            Assert.Contains(command, root.Out);
        var train = Aw("train", "--help");
        Assert.Equal(0, train.Code);
        foreach (var option in new[] { "--model", "--dataset", "--epochs", "--batch-size", "--lr", "--attention-lr", "--seed", "--device", "--data",
                     "--run", "--runs-dir", "--train-limit", "--resume", "--heads", "--layers", "--post-conv-bn", "--no-skip", "--head-bias" })
            Assert.Contains(option, train.Out);
        Assert.Contains("attention-b", train.Out);
        Assert.Equal(ExitCodes.Usage, Aw().Code);
    }

    [Fact]
    public void ParamsPrintsOurAndThePapersCounts()
    {
        var (code, output, error) = Aw("params");
        Assert.True(code == 0, error);
        Assert.Contains("929,510", output);
        Assert.Contains("961,310", output);
        Assert.Contains("attention-h", output);
        Assert.Contains("108,494", output);
        Assert.Contains("dia-control", output);
    }
}
