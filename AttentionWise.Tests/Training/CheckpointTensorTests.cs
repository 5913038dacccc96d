using System.Text.Json.Nodes;
using AttentionWise.Tool.Cli;
using AttentionWise.Training.Checkpoints;

namespace AttentionWise.Tests.Training;

/// <summary>A checkpoint whose header lacks a tensor the model needs, or names one it does not have, is refused with the
/// tensor's name (not with the gap its data leaves), by the loader, `aw eval` and `aw train --resume`.</summary>
public class CheckpointTensorTests : IClassFixture<TrainedRun>
{
    private readonly TrainedRun _run;

    public CheckpointTensorTests(TrainedRun run) => _run = run;

    /// <summary>A copy of the base run with its checkpoint's header (and data) edited.</summary>
    private (string Name, string Dir, string Checkpoint) Edited(Action<JsonObject> edit, Func<byte[], byte[]>? data = null)
    {
        var (name, dir) = _run.Copy("tensors");
        string path = Path.Combine(dir, Checkpoint.FileName);
        var (json, bytes) = Hostile.SplitSafeTensors(path);
        var node = JsonNode.Parse(json)!.AsObject();
        edit(node);
        Hostile.JoinSafeTensors(path, node.ToJsonString(), (data ?? (b => b))(bytes));
        return (name, dir, path);
    }

    private void RefusedEverywhere((string Name, string Dir, string Checkpoint) damaged, string expected)
    {
        var e = Assert.Throws<CheckpointException>(() => Checkpoint.Load(damaged.Checkpoint));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("belong to no tensor", e.Message);
        var before = Hostile.Snapshot(damaged.Dir);
        var eval = CliTests.Aw("eval", "--checkpoint", damaged.Checkpoint, "--device", "cpu");
        Assert.Equal(ExitCodes.Error, eval.Code);
        Assert.Contains(expected, Hostile.OneErrorLine(eval.Err));
        var resume = CliTests.Aw(_run.ResumeArgs(damaged.Name, TrainedRun.Epochs + 1));
        Assert.Equal(ExitCodes.Error, resume.Code);
        Assert.Contains(expected, Hostile.OneErrorLine(resume.Err));
        Hostile.Unchanged(before, damaged.Dir);
    }

    [Fact]
    public void AParameterMissingFromTheHeaderIsNamed()
    {
        // The data stays: before, the loader saw only the bytes that belonged to no tensor.
        var damaged = Edited(h => h.Remove("classifier.bias"));
        RefusedEverywhere(damaged, "missing tensor 'classifier.bias'");
    }

    [Fact]
    public void AnAdamMomentMissingFromTheHeaderIsNamed()
    {
        var damaged = Edited(h => h.Remove("adam.m.classifier.bias"));
        RefusedEverywhere(damaged, "missing tensor 'adam.m.classifier.bias'");
    }

    [Fact]
    public void AnUnexpectedTensorIsNamed()
    {
        long end = 0;
        var damaged = Edited(h =>
        {
            foreach (var (name, node) in h)
            {
                if (name != "__metadata__")
                    end = Math.Max(end, node!["data_offsets"]![1]!.GetValue<long>());
            }
            h["extra.weight"] = new JsonObject { ["dtype"] = "F32", ["shape"] = new JsonArray(2), ["data_offsets"] = new JsonArray(end, end + 8) };
        }, data => [.. data, 0, 0, 0, 0, 0, 0, 0, 0]);
        RefusedEverywhere(damaged, "unexpected tensor 'extra.weight'");
    }

    [Fact]
    public void ACheckpointWithoutAdamLoadsForEvaluation()
    {
        // Adam's moments are all or none: a weights-only file is a valid checkpoint for `aw eval`.
        var weightsOnly = Edited(h =>
        {
            foreach (var name in h.Select(p => p.Key).Where(k => k.StartsWith("adam.", StringComparison.Ordinal)).ToList())
                h.Remove(name);
            long offset = 0;
            foreach (var (name, node) in h)
            {
                if (name == "__metadata__")
                    continue;
                var o = node!["data_offsets"]!.AsArray();
                long length = o[1]!.GetValue<long>() - o[0]!.GetValue<long>();
                o[0] = offset;
                o[1] = offset + length;
                offset += length;
            }
        }, data => data);
        // The data must shrink to the weights: rebuild it from the loaded checkpoint instead of slicing by hand.
        var (info, tensors) = Checkpoint.Load(Path.Combine(_run.Base, Checkpoint.FileName));
        var (json, _) = Hostile.SplitSafeTensors(weightsOnly.Checkpoint);
        var header = JsonNode.Parse(json)!.AsObject();
        var bytes = header.Where(p => p.Key != "__metadata__").OrderBy(p => p.Value!["data_offsets"]![0]!.GetValue<long>())
            .SelectMany(p => tensors[p.Key].Data.SelectMany(BitConverter.GetBytes)).ToArray();
        Hostile.JoinSafeTensors(weightsOnly.Checkpoint, json, bytes);
        var (loadedInfo, loaded) = Checkpoint.Load(weightsOnly.Checkpoint);
        Assert.Equal(info.Epoch, loadedInfo.Epoch);
        Assert.DoesNotContain(loaded.Keys, k => k.StartsWith("adam.", StringComparison.Ordinal));
        var eval = CliTests.Aw("eval", "--checkpoint", weightsOnly.Checkpoint, "--device", "cpu");
        Assert.Equal(ExitCodes.Ok, eval.Code);
    }
}
