using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using AttentionWise.Tests.Data;
using AttentionWise.Training.Checkpoints;

namespace AttentionWise.Tests.Training;

public class SafeTensorsTests
{
    private static List<NamedTensor> Sample() =>
    [
        new("layers.0.conv.weight", [2, 3, 1, 1], [1f, -2f, 3.5f, float.Epsilon, -0f, 1e30f]),
        new("bias", [3], [0.25f, 0.5f, -0.75f]),
        new("scalar", [], [42f]),
    ];

    [Fact]
    public void RoundTripsTensorsAndMetadataBitForBit()
    {
        using var dir = new TempDir();
        string path = dir.File("a.safetensors");
        var meta = new Dictionary<string, string> { ["epoch"] = "3", ["model"] = "attention-b", ["json"] = "{\"heads\":8}" };
        SafeTensors.Write(path, Sample(), meta);
        var (tensors, metadata) = SafeTensors.Read(path);
        Assert.Equal(meta, metadata);
        Assert.Equal(Sample().Select(t => t.Name), tensors.Select(t => t.Name));
        foreach (var (a, b) in Sample().Zip(tensors))
        {
            Assert.Equal(a.Shape, b.Shape);
            Assert.Equal(a.Data.Select(BitConverter.SingleToInt32Bits), b.Data.Select(BitConverter.SingleToInt32Bits));
        }
    }

    [Fact]
    public void FollowsTheSafetensorsLayout()
    {
        using var dir = new TempDir();
        string path = dir.File("a.safetensors");
        SafeTensors.Write(path, Sample(), new Dictionary<string, string> { ["k"] = "v" });
        var bytes = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        Assert.Equal(0, n % 8);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n))!.AsObject();
        Assert.Equal("v", header["__metadata__"]!["k"]!.GetValue<string>());
        var w = header["layers.0.conv.weight"]!;
        Assert.Equal("F32", w["dtype"]!.GetValue<string>());
        Assert.Equal(new[] { 2, 3, 1, 1 }, w["shape"]!.AsArray().Select(x => x!.GetValue<int>()));
        Assert.Equal(new long[] { 0, 24 }, w["data_offsets"]!.AsArray().Select(x => x!.GetValue<long>()));
        Assert.Equal(new long[] { 24, 36 }, header["bias"]!["data_offsets"]!.AsArray().Select(x => x!.GetValue<long>()));
        Assert.Equal(8 + n + 40, bytes.Length);
        // Little-endian float32 data right after the header.
        Assert.Equal(-2f, BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(8 + n + 4))));
        Assert.Equal(-0.75f, BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(8 + n + 32))));
    }

    [Fact]
    public void ReplacesAtomicallyAndLeavesNoTemporaryFiles()
    {
        using var dir = new TempDir();
        string path = dir.File("c.safetensors");
        SafeTensors.Write(path, Sample(), new Dictionary<string, string> { ["epoch"] = "1" });
        var bad = new List<NamedTensor> { new("x", [2], [1f]) };
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(path, bad, new Dictionary<string, string> { ["epoch"] = "2" }));
        Assert.Equal("1", SafeTensors.Read(path).Metadata["epoch"]);
        SafeTensors.Write(path, Sample(), new Dictionary<string, string> { ["epoch"] = "2" });
        Assert.Equal("2", SafeTensors.Read(path).Metadata["epoch"]);
        Assert.Equal(new[] { "c.safetensors" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void ReportsTruncatedAndForeignFiles()
    {
        using var dir = new TempDir();
        string path = dir.File("t.safetensors");
        SafeTensors.Write(path, Sample(), new Dictionary<string, string>());
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^5]);
        var e = Assert.Throws<CheckpointException>(() => SafeTensors.Read(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("truncated", e.Message);

        File.WriteAllBytes(path, bytes[..20]);
        Assert.Contains("truncated", Assert.Throws<CheckpointException>(() => SafeTensors.Read(path)).Message);

        File.WriteAllText(path, "hello, this is not a checkpoint");
        Assert.Contains("not a safetensors file", Assert.Throws<CheckpointException>(() => SafeTensors.Read(path)).Message);

        var json = Encoding.UTF8.GetBytes("{\"w\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}");
        var f16 = new byte[8 + json.Length + 2];
        BinaryPrimitives.WriteInt64LittleEndian(f16, json.Length);
        json.CopyTo(f16, 8);
        File.WriteAllBytes(path, f16);
        Assert.Contains("dtype F16", Assert.Throws<CheckpointException>(() => SafeTensors.Read(path)).Message);

        Assert.Contains("no such checkpoint", Assert.Throws<CheckpointException>(() => SafeTensors.Read(dir.File("none"))).Message);
    }
}
