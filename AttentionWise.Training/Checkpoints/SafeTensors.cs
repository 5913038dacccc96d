using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace AttentionWise.Training.Checkpoints;

/// <summary>One named float32 tensor of a safetensors file.</summary>
public sealed record NamedTensor(string Name, int[] Shape, float[] Data)
{
    public long Length => Shape.Aggregate(1L, (a, d) => a * d);
}

/// <summary>A safetensors file is unreadable or inconsistent; the message names the file and the problem.</summary>
public sealed class CheckpointException : Exception
{
    public CheckpointException(string message) : base(message) { }
    public CheckpointException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// The safetensors format (as Hugging Face's safetensors library reads it): an 8-byte little-endian
/// header length, a UTF-8 JSON header mapping each tensor name to {"dtype", "shape", "data_offsets"}
/// (offsets into the data that follows the header) plus an optional "__metadata__" string map, then
/// the raw little-endian tensor data. Only dtype "F32" is written or read here. The header is padded
/// with spaces to a multiple of 8 bytes so that the data is aligned.
/// </summary>
public static class SafeTensors
{
    private const string MetadataKey = "__metadata__";
    private const long MaxHeaderBytes = 100L << 20;

    /// <summary>Writes the file atomically: to a temporary file in the same directory, flushed to disk,
    /// then renamed over <paramref name="path"/>. A crash leaves either the old file or the new one.</summary>
    public static void Write(string path, IEnumerable<NamedTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(metadata);
        var list = tensors.ToList();
        var header = new JsonObject();
        var meta = new JsonObject();
        foreach (var (k, v) in metadata)
            meta[k] = v;
        header[MetadataKey] = meta;
        long offset = 0;
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in list)
        {
            if (t.Name == MetadataKey || !names.Add(t.Name))
                throw new ArgumentException($"Tensor name '{t.Name}' is reserved or used twice.", nameof(tensors));
            if (t.Length != t.Data.Length)
                throw new ArgumentException($"Tensor '{t.Name}' has shape [{string.Join(", ", t.Shape)}] but {t.Data.Length} values.", nameof(tensors));
            long bytes = 4L * t.Data.Length;
            header[t.Name] = new JsonObject
            {
                ["dtype"] = "F32",
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;

        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> length = stackalloc byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(length, padded);
                file.Write(length);
                file.Write(json);
                for (int i = json.Length; i < padded; i++)
                    file.WriteByte((byte)' ');
                foreach (var t in list)
                    WriteFloats(file, t.Data);
                file.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try
            {
                File.Delete(temp);
            }
            catch (IOException)
            {
            }
            throw;
        }
    }

    /// <summary>Reads every tensor and the metadata.</summary>
    public static (IReadOnlyList<NamedTensor> Tensors, IReadOnlyDictionary<string, string> Metadata) Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (FileNotFoundException e)
        {
            throw new CheckpointException($"{path}: no such checkpoint file.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"{path}: cannot be read: {e.Message}", e);
        }
        if (bytes.Length < 8)
            throw new CheckpointException($"{path}: not a safetensors file: {bytes.Length} bytes, expected at least an 8-byte header length.");
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        if (headerLength <= 0 || headerLength > MaxHeaderBytes || 8 + headerLength > bytes.Length)
            throw new CheckpointException($"{path}: not a safetensors file or truncated: header length {headerLength} in a file of {bytes.Length} bytes.");
        JsonObject header;
        try
        {
            header = JsonNode.Parse(bytes.AsSpan(8, (int)headerLength))?.AsObject()
                ?? throw new CheckpointException($"{path}: the safetensors header is not a JSON object.");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new CheckpointException($"{path}: the safetensors header is not valid JSON ({e.Message}).", e);
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var tensors = new List<NamedTensor>();
        long dataStart = 8 + headerLength;
        long dataLength = bytes.Length - dataStart;
        try
        {
            foreach (var (name, node) in header)
            {
                if (name == MetadataKey)
                {
                    foreach (var (k, v) in node!.AsObject())
                        metadata[k] = v!.GetValue<string>();
                    continue;
                }
                var entry = node!.AsObject();
                string dtype = entry["dtype"]!.GetValue<string>();
                if (dtype != "F32")
                    throw new CheckpointException($"{path}: tensor '{name}' has dtype {dtype}; only F32 is supported.");
                int[] shape = entry["shape"]!.AsArray().Select(d => d!.GetValue<int>()).ToArray();
                var offsets = entry["data_offsets"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
                long count = shape.Aggregate(1L, (a, d) => a * d);
                if (shape.Any(d => d < 0) || offsets.Length != 2 || offsets[0] < 0 || offsets[1] - offsets[0] != 4 * count || offsets[1] > dataLength)
                {
                    throw new CheckpointException(
                        $"{path}: tensor '{name}' of shape [{string.Join(", ", shape)}] has data_offsets [{string.Join(", ", offsets)}], which do not fit {4 * count} bytes within the {dataLength} data bytes (truncated file?).");
                }
                var data = new float[count];
                ReadFloats(bytes.AsSpan((int)(dataStart + offsets[0]), (int)(4 * count)), data);
                tensors.Add(new NamedTensor(name, shape, data));
            }
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException or JsonException)
        {
            throw new CheckpointException($"{path}: the safetensors header is malformed ({e.Message}).", e);
        }
        return (tensors, metadata);
    }

    private static void WriteFloats(Stream stream, float[] data)
    {
        if (BitConverter.IsLittleEndian)
        {
            stream.Write(MemoryMarshal.AsBytes(data.AsSpan()));
            return;
        }
        var buffer = new byte[4];
        foreach (float v in data)
        {
            BinaryPrimitives.WriteSingleLittleEndian(buffer, v);
            stream.Write(buffer);
        }
    }

    private static void ReadFloats(ReadOnlySpan<byte> bytes, float[] data)
    {
        if (BitConverter.IsLittleEndian)
        {
            bytes.CopyTo(MemoryMarshal.AsBytes(data.AsSpan()));
            return;
        }
        for (int i = 0; i < data.Length; i++)
            data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]);
    }
}
