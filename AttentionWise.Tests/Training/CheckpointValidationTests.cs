using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json.Nodes;
using AttentionWise.Tool.Cli;
using AttentionWise.Training.Checkpoints;

namespace AttentionWise.Tests.Training;

/// <summary>
/// Damaged checkpoints, each written by the test from a real one: the loader refuses every one of them with a message
/// that names the file and the problem, `aw eval` turns that into one error line and exit 1, and `aw train --resume`
/// refuses before it changes any file of the run.
/// </summary>
public class CheckpointValidationTests : IClassFixture<TrainedRun>
{
    private readonly TrainedRun _run;

    public CheckpointValidationTests(TrainedRun run) => _run = run;

    private string BaseCheckpoint => Path.Combine(_run.Base, Checkpoint.FileName);

    /// <summary>A copy of the base run whose checkpoint's header JSON is edited as text.</summary>
    private (string Name, string Dir, string Checkpoint) WithHeader(Func<string, string> edit, Func<byte[], byte[]>? data = null)
    {
        var (name, dir) = _run.Copy("ckpt");
        string path = Path.Combine(dir, Checkpoint.FileName);
        var (json, bytes) = Hostile.SplitSafeTensors(path);
        Hostile.JoinSafeTensors(path, edit(json), (data ?? (b => b))(bytes));
        return (name, dir, path);
    }

    /// <summary>A copy of the base run whose checkpoint's header is edited as a JSON object.</summary>
    private (string Name, string Dir, string Checkpoint) WithHeaderNode(Action<JsonObject> edit, Func<byte[], byte[]>? data = null) =>
        WithHeader(json =>
        {
            var node = JsonNode.Parse(json)!.AsObject();
            edit(node);
            return node.ToJsonString();
        }, data);

    /// <summary>A copy of the base run with one metadata entry replaced.</summary>
    private (string Name, string Dir, string Checkpoint) WithMetadata(string key, string value) =>
        WithHeaderNode(h => h["__metadata__"]![key] = value);

    private static string Refused(string path)
    {
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(path));
        Assert.Contains(path, e.Message);
        return e.Message;
    }

    /// <summary>`aw eval` and `aw train --resume` of a damaged checkpoint: one error line, exit 1, and the run folder unchanged.</summary>
    private string RefusedByTheCommandLine((string Name, string Dir, string Checkpoint) damaged, string expected, string? resumeExpected = null)
    {
        var before = Hostile.Snapshot(damaged.Dir);
        var eval = CliTests.Aw("eval", "--checkpoint", damaged.Checkpoint, "--device", "cpu");
        Assert.Equal(ExitCodes.Error, eval.Code);
        string evalLine = Hostile.OneErrorLine(eval.Err);
        Assert.True(evalLine.Contains(expected, StringComparison.Ordinal), evalLine);
        var resume = CliTests.Aw(_run.ResumeArgs(damaged.Name, TrainedRun.Epochs + 1));
        Assert.Equal(ExitCodes.Error, resume.Code);
        string line = Hostile.OneErrorLine(resume.Err);
        Assert.True(line.Contains(resumeExpected ?? expected, StringComparison.Ordinal), line);
        Assert.Contains(damaged.Checkpoint, line);
        var visualize = CliTests.Aw("visualize", "--checkpoint", damaged.Checkpoint, "--out", Path.Combine(damaged.Dir, "figures"), "--device", "cpu");
        Assert.Equal(ExitCodes.Error, visualize.Code);
        Assert.Contains(expected, Hostile.OneErrorLine(visualize.Err));
        Hostile.Unchanged(before, damaged.Dir);
        return line;
    }

    [Fact]
    public void TheValidCheckpointLoads()
    {
        var (info, tensors) = Checkpoint.Load(BaseCheckpoint);
        Assert.Equal(TrainedRun.Epochs, info.Epoch);
        Assert.Equal(Checkpoint.ReadInfo(BaseCheckpoint), info);
        Assert.Contains("layers.0.heads.wx", tensors.Keys);
    }

    [Fact]
    public void ATensorNameGivenTwiceIsRefused()
    {
        var damaged = WithHeader(json =>
        {
            var entry = JsonNode.Parse(json)!["classifier.bias"]!.ToJsonString();
            return json[..json.LastIndexOf('}')] + ",\"classifier.bias\":" + entry + "}";
        });
        Assert.Contains("names 'classifier.bias' twice", Refused(damaged.Checkpoint));
        RefusedByTheCommandLine(damaged, "twice");
    }

    [Fact]
    public void AShapeWhoseProductOverflowsIsRefusedWithoutAnException()
    {
        var damaged = WithHeaderNode(h => h["classifier.bias"]!["shape"] = new JsonArray(2147483647, 2147483647, 2147483647));
        Assert.Contains("more than the", Refused(damaged.Checkpoint));
        RefusedByTheCommandLine(damaged, "classifier.bias");
    }

    [Theory]
    [InlineData("[0, 10]", "every dimension must be from 1")]
    [InlineData("[-1, -10]", "every dimension must be from 1")]
    [InlineData("[10.5]", "not a whole number")]
    [InlineData("[1e30]", "not a whole number")]
    [InlineData("[5]", "do not span")]
    [InlineData("\"ten\"", "no shape array")]
    public void ABadShapeIsRefused(string shape, string expected)
    {
        var damaged = WithHeaderNode(h => h["classifier.bias"]!["shape"] = JsonNode.Parse(shape));
        Assert.Contains(expected, Refused(damaged.Checkpoint));
    }

    [Fact]
    public void OverlappingTensorsAreRefused()
    {
        // wx and wy have the same shape: give wy wx's bytes.
        var damaged = WithHeaderNode(h => h["layers.0.heads.wy"]!["data_offsets"] = h["layers.0.heads.wx"]!["data_offsets"]!.DeepClone());
        Assert.Contains("overlap", Refused(damaged.Checkpoint));
        RefusedByTheCommandLine(damaged, "overlap");
    }

    [Fact]
    public void AGapOrTrailingBytesAreRefused()
    {
        var trailing = WithHeader(json => json, data => [.. data, 1, 2, 3, 4]);
        Assert.Contains("4 bytes after the last tensor's data belong to no tensor", Refused(trailing.Checkpoint));

        // The first tensor starts 4 bytes late, and the file is 4 bytes longer to hold it.
        var gap = WithHeaderNode(h =>
        {
            foreach (var (name, node) in h)
            {
                if (name == "__metadata__")
                    continue;
                var o = node!["data_offsets"]!.AsArray();
                o[0] = o[0]!.GetValue<long>() + 4;
                o[1] = o[1]!.GetValue<long>() + 4;
            }
        }, data => [0, 0, 0, 0, .. data]);
        Assert.Contains("starts at byte 4 instead of 0", Refused(gap.Checkpoint));
    }

    [Theory]
    [InlineData("[-4, 36]", "both must be whole numbers of at least 0")]
    [InlineData("[0]", "no data_offsets pair")]
    [InlineData("[40, 0]", "do not span")]
    [InlineData("[9000000000000, 9000000000040]", "belong to no tensor")]
    public void BadDataOffsetsAreRefused(string offsets, string expected)
    {
        var damaged = WithHeaderNode(h => h["classifier.bias"]!["data_offsets"] = JsonNode.Parse(offsets));
        Assert.Contains(expected, Refused(damaged.Checkpoint));
    }

    [Fact]
    public void AHeaderThatIsNotAnObjectOrHasNonStringMetadataIsRefused()
    {
        var array = WithHeader(_ => "[1, 2, 3]");
        Assert.Contains("not a JSON object but an array", Refused(array.Checkpoint));
        var number = WithHeaderNode(h => h["__metadata__"]!["epoch"] = 2);
        Assert.Contains("metadata entry 'epoch' is a number", Refused(number.Checkpoint));
        var entry = WithHeaderNode(h => h["classifier.bias"] = "F32");
        Assert.Contains("not an object", Refused(entry.Checkpoint));
    }

    [Theory]
    [InlineData("epoch", "-3", "epoch -3 is negative")]
    [InlineData("epoch", "2147483647", "epoch 2147483647 is beyond the run's 2 epochs")]
    [InlineData("epoch", "2147483648", "'epoch' is '2147483648', not a whole number")]
    [InlineData("epoch", "two", "'epoch' is 'two'")]
    [InlineData("adam_step", "-1", "Adam step -1 is negative")]
    [InlineData("adam_step", "1", "Adam step 1 does not fit epoch 2")]
    [InlineData("rng_state", "-5", "'rng_state' is '-5'")]
    [InlineData("seed", "8", "seed 8 disagrees")]
    [InlineData("model", "attention-c", "'model' says attention-c")]
    [InlineData("format", "something-else", "checkpoint format 'something-else'")]
    [InlineData("training", "[]", "metadata is malformed")]
    [InlineData("model_config", "{\"name\":null}", "metadata is malformed")]
    public void MetadataOutOfRangeIsRefusedAndNothingIsResumed(string key, string value, string expected)
    {
        var damaged = WithMetadata(key, value);
        Assert.Contains(expected, Refused(damaged.Checkpoint));
        RefusedByTheCommandLine(damaged, expected);
    }

    [Fact]
    public void AnUnknownModelOrDatasetOrAnImpossibleConfigurationIsRefused()
    {
        var info = Checkpoint.ReadInfo(BaseCheckpoint);

        var unknownModel = WithHeaderNode(h =>
        {
            h["__metadata__"]!["model"] = "attention-z";
            h["__metadata__"]!["model_config"] = (info.Model with { Name = "attention-z" }).ToJson();
        });
        Assert.Contains("model 'attention-z' is not one of", Refused(unknownModel.Checkpoint));

        var noHeads = WithMetadata("model_config", (info.Model with { Attention = info.Model.Attention! with { Heads = 0 } }).ToJson());
        RefusedByTheCommandLine(noHeads, "at least one head and one layer, not 0 heads");

        var attentionOnControl = WithHeaderNode(h =>
        {
            h["__metadata__"]!["model"] = "control";
            h["__metadata__"]!["model_config"] = (info.Model with { Name = "control" }).ToJson();
        });
        Assert.Contains("control has no attention options", Refused(attentionOnControl.Checkpoint));

        var dataset = WithMetadata("training", (info.Settings with { Dataset = "mnist" }).ToJson());
        RefusedByTheCommandLine(dataset, "dataset 'mnist' is not one of fashion-mnist, cifar10");

        var batch = WithMetadata("training", (info.Settings with { BatchSize = 0 }).ToJson());
        Assert.Contains("batch size must be at least 1, not 0", Refused(batch.Checkpoint));

        var micro = WithMetadata("training", (info.Settings with { MicroBatch = 4 }).ToJson());
        Assert.Contains("micro-batch 4 splits a batch of 16", Refused(micro.Checkpoint));

        var image = WithMetadata("model_config", (info.Model with { Height = 0 }).ToJson());
        Assert.Contains("is not a positive image size", Refused(image.Checkpoint));
    }

    [Fact]
    public void TensorsOfAnotherConfigurationAreRefusedBeforeAnyFileChanges()
    {
        var info = Checkpoint.ReadInfo(BaseCheckpoint);
        var fewerHeads = WithMetadata("model_config", (info.Model with { Attention = info.Model.Attention! with { Heads = 4 } }).ToJson());
        // A resume finds config.json disagreeing with the checkpoint first.
        RefusedByTheCommandLine(fewerHeads, "tensor 'layers.0.heads.wx' has shape [8, 1, 8, 8] but the model needs [4, 1, 8, 8]",
            "config.json disagrees with");
    }

    [Fact]
    public void NonFiniteWeightsAreAnErrorForEvalAndResume()
    {
        var (json, _) = Hostile.SplitSafeTensors(BaseCheckpoint);
        long begin = JsonNode.Parse(json)!["classifier.weight"]!["data_offsets"]![0]!.GetValue<long>();
        var damaged = WithHeader(j => j, data =>
        {
            BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan((int)begin + 4 * 3), float.NaN);
            return data;
        });
        Assert.Contains("tensor 'classifier.weight' holds a non-finite value (NaN) at index 3", Refused(damaged.Checkpoint));
        RefusedByTheCommandLine(damaged, "non-finite value");
        // The metadata alone is still readable (aw reproduce reads only that).
        Assert.Equal(TrainedRun.Epochs, Checkpoint.ReadInfo(damaged.Checkpoint).Epoch);
    }

    [Fact]
    public void ACheckpointThatIsAFifoOrADeviceIsRefusedWithoutBlocking()
    {
        var (_, dir) = _run.Copy("fifo");
        string path = Path.Combine(dir, Checkpoint.FileName);
        File.Delete(path);
        Hostile.MakeFifo(path);
        var e = Hostile.Within(TimeSpan.FromMinutes(2), () => Assert.Throws<CheckpointException>(() => Checkpoint.Load(path)));
        Assert.Contains("is a FIFO", e.Message);
        var eval = Hostile.Within(TimeSpan.FromMinutes(2), () => CliTests.Aw("eval", "--checkpoint", path, "--device", "cpu"));
        Assert.Equal(ExitCodes.Error, eval.Code);
        Assert.Contains("FIFO", Hostile.OneErrorLine(eval.Err));

        string zero = Path.Combine(dir, "zero.safetensors");
        File.CreateSymbolicLink(zero, "/dev/zero");
        var z = Assert.Throws<CheckpointException>(() => Checkpoint.Load(zero));
        Assert.Contains("is a character device (a link to /dev/zero)", z.Message);
    }

    [Fact]
    public void TheParameterCountIsCheckedBeforeTheModelIsBuilt()
    {
        var info = Checkpoint.ReadInfo(BaseCheckpoint);
        var huge = WithMetadata("model_config", (info.Model with { Attention = info.Model.Attention! with { Heads = 2_000_000 } }).ToJson());
        var eval = CliTests.Aw("eval", "--checkpoint", huge.Checkpoint, "--device", "cpu");
        Assert.Equal(ExitCodes.Error, eval.Code);
        string line = Hostile.OneErrorLine(eval.Err);
        Assert.Contains("needs at least", line);
        Assert.Contains("2000000 heads", line);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"more than the {int.MaxValue:N0} one device tensor can hold"), line);
    }
}
