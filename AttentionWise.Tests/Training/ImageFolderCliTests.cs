using System.Globalization;
using System.Text.Json.Nodes;
using AttentionWise.Layers;
using AttentionWise.Tests.Data;
using AttentionWise.Tool.Cli;
using AttentionWise.Training;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Tests.Training;

/// <summary>`aw train`, `aw eval` and `aw predict` on image folders, and hostile folders refused with nothing left behind.</summary>
public class ImageFolderCliTests
{
    /// <summary>`aw train` on an image folder with the tests' defaults; <paramref name="extra"/> adds or replaces options.</summary>
    private static string[] Train(string data, string runs, string run, params string[] extra)
    {
        var options = new Dictionary<string, string>
        {
            ["--data"] = data, ["--runs-dir"] = runs, ["--run"] = run, ["--device"] = "cpu", ["--epochs"] = "2",
            ["--batch-size"] = "8", ["--lr"] = "0.01", ["--seed"] = "3",
        };
        for (int i = 0; i + 1 < extra.Length; i += 2)
            options[extra[i]] = extra[i + 1];
        return ["train", .. options.SelectMany(o => new[] { o.Key, o.Value })];
    }

    [Fact]
    public void AFolderOfPngsTrainsEvaluatesAndPredictsWithItsClassNames()
    {
        using var dir = new TempDir();
        string data = dir.File("shapes");
        ImageFolders.Write(data, train: 12, test: 6);
        string runs = dir.File("runs");
        var train = CliTests.Aw(Train(data, runs, "shapes"));
        Assert.True(train.Code == ExitCodes.Ok, train.Err + train.Out);
        Assert.Contains("decoded 54 images", train.Out);
        Assert.Contains("images/s", train.Out);
        string run = Path.Combine(runs, "shapes");

        // The class names in config.json and in the checkpoint; the model has one output per class.
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(run, "config.json")))!;
        Assert.Equal(ImageFolders.Classes, config["training"]!["class_names"]!.AsArray().Select(n => n!.GetValue<string>()));
        Assert.Equal("image-folder", config["training"]!["dataset"]!.GetValue<string>());
        string ckpt = Path.Combine(run, Checkpoint.FileName);
        var info = Checkpoint.ReadInfo(ckpt);
        Assert.Equal(ImageFolders.Classes, info.Settings.ClassNames);
        Assert.Equal(3, info.Model.Classes);
        Assert.Equal(1, info.Model.Channels);

        // Eval on the folder's test split (from the recorded folder) gives the last epoch's test accuracy.
        var rows = File.ReadAllLines(Path.Combine(run, "epochs.csv"));
        var header = rows[0].Split(',');
        double lastAccuracy = double.Parse(rows[^1].Split(',')[Array.IndexOf(header, "test_accuracy")], CultureInfo.InvariantCulture);
        Assert.True(lastAccuracy > 50, $"accuracy {lastAccuracy} is not above chance (33 %)");
        var eval = CliTests.Aw("eval", "--checkpoint", ckpt, "--device", "cpu");
        Assert.True(eval.Code == ExitCodes.Ok, eval.Err);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"accuracy {lastAccuracy:0.00}%"), eval.Out);

        // Predict: class names, top-k, CSV.
        string csv = dir.File("p.csv");
        string image = Path.Combine(data, "test", "top", "000.png");
        var predict = CliTests.Aw("predict", "--checkpoint", ckpt, image, Path.Combine(data, "test", "left"), "--top", "2", "--csv", csv, "--device", "cpu");
        Assert.True(predict.Code == ExitCodes.Ok, predict.Err);
        var lines = predict.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(7, lines.Length);
        Assert.StartsWith(image + ": ", lines[0]);
        Assert.All(lines, l => Assert.Contains(ImageFolders.Classes, c => l.Contains(" " + c + " ", StringComparison.Ordinal)));
        var csvLines = File.ReadAllLines(csv);
        Assert.Equal("image,rank,class,class_index,probability", csvLines[0]);
        Assert.Equal(1 + 7 * 2, csvLines.Length);

        // The probabilities are the model's eval-mode forward, softmaxed; the top k sum to at most 1.
        var outcome = Predictor.Run(new PredictRequest(ckpt, [Path.Combine(data, "test")], Top: 2, Device: "cpu"));
        Assert.Equal(18, outcome.Predictions.Count);
        var test = Datasets.Load(info.Settings, testOnly: true).Test;
        var (_, tensors) = Checkpoint.Load(ckpt);
        using var device = ComputeDevice.Open("cpu");
        using var model = ModelRegistry.Create(device, info.Model);
        Checkpoint.Restore(ckpt, tensors, model, null, 0);
        model.Network.Eval();
        using var x = device.Upload(test.Shape, test.Images);
        var logits = model.Network.Forward(x).Download();
        for (int i = 0; i < test.Count; i++)
        {
            var p = outcome.Predictions[i];
            Assert.Equal(2, p.Top.Count);
            Assert.InRange(p.Top.Sum(c => c.Probability), 0, 1 + 1e-12);
            Assert.True(p.Top[0].Probability >= p.Top[1].Probability);
            Assert.Equal(1.0, p.Probabilities.Sum(), 1e-9);
            var row = logits.AsSpan(i * 3, 3);
            double max = double.NegativeInfinity;
            foreach (var v in row)
                max = Math.Max(max, v);
            double sum = 0;
            foreach (var v in row)
                sum += Math.Exp(v - max);
            for (int c = 0; c < 3; c++)
                Assert.Equal(Math.Exp(row[c] - max) / sum, p.Probabilities[c], 1e-5);
            int argmax = row.IndexOf(row.ToArray().Max());
            Assert.Equal(argmax, p.Best.Index);
            Assert.Equal(ImageFolders.Classes[argmax], p.Best.Name);
        }
    }

    [Fact]
    public void ResizeAndChannelsApplyToPredictionsToo()
    {
        using var dir = new TempDir();
        string data = dir.File("rgb");
        ImageFolders.Write(data, train: 6, test: 0, channels: 3, size: 10);
        string runs = dir.File("runs");
        var train = CliTests.Aw(Train(data, runs, "rgb", "--resize", "8x8", "--val-split", "0.34"));
        Assert.True(train.Code == ExitCodes.Ok, train.Err + train.Out);
        var info = Checkpoint.ReadInfo(Path.Combine(runs, "rgb", Checkpoint.FileName));
        Assert.Equal((3, 8, 8), (info.Model.Channels, info.Model.Height, info.Model.Width));
        Assert.Equal("8x8", info.Settings.Resize);
        Assert.Equal(0.34, info.Settings.ValSplit);
        // Resized on the way in: a 20×16 image is accepted.
        string big = dir.File("big.png");
        ImageFolder.WritePng(big, 3, 20, 16, ImageFolders.Pixels(0, 5, 3, 20).AsSpan(0, 3 * 20 * 16).ToArray());
        var predict = CliTests.Aw("predict", "--checkpoint", Path.Combine(runs, "rgb", Checkpoint.FileName), big, "--device", "cpu");
        Assert.True(predict.Code == ExitCodes.Ok, predict.Err);
        Assert.StartsWith(big + ": ", predict.Out);
        // The same split when evaluated again.
        var eval = CliTests.Aw("eval", "--checkpoint", Path.Combine(runs, "rgb", Checkpoint.FileName), "--device", "cpu");
        Assert.True(eval.Code == ExitCodes.Ok, eval.Err);
        Assert.Contains("decoded 6 images", eval.Out);
    }

    [Fact]
    public void AFashionMnistCheckpointPredictsPngImages()
    {
        using var dir = new TempDir();
        SyntheticData.Write(dir.Path, 64, 32, 8);
        var train = CliTests.Aw("train", "--data", dir.Path, "--runs-dir", dir.File("runs"), "--run", "fm", "--device", "cpu", "--epochs", "1", "--batch-size", "16");
        Assert.True(train.Code == ExitCodes.Ok, train.Err + train.Out);
        string ckpt = Path.Combine(dir.File("runs"), "fm", Checkpoint.FileName);
        // A standard data set's settings carry none of the image-folder fields (config.json and the checkpoint as before).
        var training = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.File("runs"), "fm", "config.json")))!["training"]!.AsObject();
        Assert.Equal(["dataset", "data_directory", "epochs", "batch_size", "learning_rate", "seed"], training.Select(p => p.Key));
        Assert.DoesNotContain("class_names", Checkpoint.ReadInfo(ckpt).Settings.ToJson());
        string image = dir.File("img.png");
        ImageFolder.WritePng(image, 1, 8, 8, ImageFolders.Pixels(0, 0, 1, 8));
        var predict = CliTests.Aw("predict", "--checkpoint", ckpt, image, "--top", "10", "--device", "cpu");
        Assert.True(predict.Code == ExitCodes.Ok, predict.Err);
        Assert.All(FashionMnist.ClassNames, name => Assert.Contains(name, predict.Out));
        // A Fashion-MNIST model takes its own image size: another one is refused by name.
        string wrong = dir.File("wrong.png");
        ImageFolder.WritePng(wrong, 1, 9, 9, new byte[81]);
        var refused = CliTests.Aw("predict", "--checkpoint", ckpt, image, wrong, "--device", "cpu");
        Assert.Equal(ExitCodes.Error, refused.Code);
        string line = Hostile.OneErrorLine(refused.Err);
        Assert.Contains(wrong, line);
        Assert.Contains("9x9", line);
    }

    [Fact]
    public void AnImageFolderRunResumesAsIfStraightAndRefusesOtherClasses()
    {
        using var dir = new TempDir();
        string data = dir.File("shapes");
        ImageFolders.Write(data, train: 6, test: 2);
        string runs = dir.File("runs");
        Assert.Equal(ExitCodes.Ok, CliTests.Aw(Train(data, runs, "straight", "--epochs", "3")).Code);
        Assert.Equal(ExitCodes.Ok, CliTests.Aw(Train(data, runs, "resumed")).Code);
        var resume = CliTests.Aw("train", "--runs-dir", runs, "--run", "resumed", "--resume", "--epochs", "3", "--device", "cpu");
        Assert.True(resume.Code == ExitCodes.Ok, resume.Err);
        var straight = Checkpoint.Load(Path.Combine(runs, "straight", Checkpoint.FileName)).Tensors;
        var resumed = Checkpoint.Load(Path.Combine(runs, "resumed", Checkpoint.FileName)).Tensors;
        Assert.Equal(straight.Keys.Order(), resumed.Keys.Order());
        foreach (var (name, t) in straight)
            Assert.Equal(t.Data, resumed[name].Data);

        // Another set of classes in the folder: refused by name, the run unchanged.
        string run = Path.Combine(runs, "resumed");
        var before = Hostile.Snapshot(run);
        Directory.Move(Path.Combine(data, "train", "top"), Path.Combine(data, "train", "upper"));
        Directory.Move(Path.Combine(data, "test", "top"), Path.Combine(data, "test", "upper"));
        var other = CliTests.Aw("train", "--runs-dir", runs, "--run", "resumed", "--resume", "--epochs", "4", "--device", "cpu");
        Assert.Equal(ExitCodes.Error, other.Code);
        string line = Hostile.OneErrorLine(other.Err);
        Assert.Contains(data, line);
        Assert.Contains("upper", line);
        Hostile.Unchanged(before, run);
    }

    public static TheoryData<string> HostileCases => ["corrupt", "truncated", "unsupported", "sizes", "empty-class", "single-class", "unreadable", "huge"];

    [Theory]
    [MemberData(nameof(HostileCases))]
    public void AHostileFolderIsOneErrorLineAndLeavesNothingBehind(string kind)
    {
        using var dir = new TempDir();
        string data = dir.File("data");
        ImageFolders.Write(data, 3, 1);
        string file = Path.Combine(data, "train", "left", "zz.png");
        switch (kind)
        {
            case "corrupt":
                File.WriteAllBytes(file, [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
                break;
            case "truncated":
                var noise = new byte[64];
                new Random(1).NextBytes(noise);
                ImageFolder.WritePng(file, 1, 8, 8, noise);
                File.WriteAllBytes(file, File.ReadAllBytes(file)[..60]);
                break;
            case "unsupported":
                File.WriteAllBytes(file, "GIF89a\x01\0\x01\0\0\0\0;"u8.ToArray());
                break;
            case "sizes":
                ImageFolder.WritePng(file, 1, 9, 8, new byte[72]);
                break;
            case "empty-class":
                file = Path.Combine(data, "train", "nothing");
                Directory.CreateDirectory(file);
                break;
            case "single-class":
                Directory.Delete(Path.Combine(data, "train", "left"), true);
                Directory.Delete(Path.Combine(data, "train", "top"), true);
                Directory.Delete(Path.Combine(data, "test"), true);
                file = Path.Combine(data, "train");
                break;
            case "unreadable":
                File.CreateSymbolicLink(file, dir.File("missing.png"));
                break;
            case "huge":
                ImageFolders.WriteHugeHeader(file, 50_000, 60_000);
                break;
        }
        string runs = dir.File("runs");
        var result = CliTests.Aw(Train(data, runs, "bad"));
        Assert.Equal(ExitCodes.Error, result.Code);
        Assert.Contains(file, Hostile.OneErrorLine(result.Err));
        Assert.False(Directory.Exists(Path.Combine(runs, "bad")), "a run folder was left behind");
    }
}
