using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AttentionWise.Training.IO;

namespace AttentionWise.Training.Checkpoints;

/// <summary>One named float32 tensor of a safetensors file.</summary>
public sealed record NamedTensor(string Name, int[] Shape, float[] Data)
{
    public long Length => Shape.Aggregate(1L, (a, d) => a * d);
}

/// <summary>Where one tensor's data lies in a safetensors file: bytes [<see cref="Begin"/>, <see cref="End"/>) of the data
/// that follows the header.</summary>
public sealed record TensorEntry(string Name, int[] Shape, long Begin, long End)
{
    public int Count => (int)((End - Begin) / 4);
}

/// <summary>A checked safetensors header: the tensors in the header's order, the metadata, and where the data starts.</summary>
public sealed record SafeTensorsHeader(IReadOnlyList<TensorEntry> Entries, IReadOnlyDictionary<string, string> Metadata, long DataStart);

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

    /// <summary>Reads and checks the header without reading the tensors' data: every entry, in the header's order, and
    /// the metadata.</summary>
    /// <exception cref="CheckpointException">The file is not a regular file, not a safetensors file, or inconsistent
    /// (see <see cref="Read"/>).</exception>
    public static SafeTensorsHeader ReadHeader(string path)
    {
        using var file = OpenRead(path);
        return ReadHeader(path, file, null);
    }

    /// <summary>
    /// Reads every tensor and the metadata. Before any data is read the header is checked: every tensor name is
    /// unique; each tensor's dtype is F32 and its shape's dimensions are positive with a product that fits an array;
    /// its data_offsets span exactly 4 bytes per value; and the tensors' data, in offset order, is contiguous from the
    /// first data byte to the end of the file, without gaps or overlaps.
    /// </summary>
    /// <param name="path">The file.</param>
    /// <param name="expect">Runs on the header's entries and metadata before the data's layout is checked, so that a
    /// reader who knows which tensors belong there can name a missing or unexpected one (rather than the gap or
    /// overlap its absence leaves in the data).</param>
    public static (IReadOnlyList<NamedTensor> Tensors, IReadOnlyDictionary<string, string> Metadata) Read(
        string path, Action<IReadOnlyList<TensorEntry>, IReadOnlyDictionary<string, string>>? expect = null)
    {
        using var file = OpenRead(path);
        var header = ReadHeader(path, file, expect);
        var tensors = new List<NamedTensor>(header.Entries.Count);
        try
        {
            foreach (var e in header.Entries)
            {
                var data = new float[e.Count];
                file.Position = header.DataStart + e.Begin;
                ReadFloats(file, data);
                tensors.Add(new NamedTensor(e.Name, e.Shape, data));
            }
        }
        catch (EndOfStreamException e)
        {
            throw new CheckpointException($"{path}: truncated: the file ended inside the tensors' data (did it change while it was read?).", e);
        }
        catch (IOException e)
        {
            throw new CheckpointException($"{path}: cannot be read: {e.Message}", e);
        }
        return (tensors, header.Metadata);
    }

    private static FileStream OpenRead(string path)
    {
        InputFile.RequireRegular(path, m => new CheckpointException(m));
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CheckpointException($"{path}: no such checkpoint file.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"{path}: cannot be read: {e.Message}", e);
        }
    }

    private static SafeTensorsHeader ReadHeader(string path, FileStream file, Action<IReadOnlyList<TensorEntry>, IReadOnlyDictionary<string, string>>? expect)
    {
        long fileLength = file.Length;
        if (fileLength < 8)
            throw new CheckpointException($"{path}: not a safetensors file: {fileLength} bytes, expected at least an 8-byte header length.");
        byte[] json;
        long headerLength;
        try
        {
            Span<byte> length = stackalloc byte[8];
            file.ReadExactly(length);
            headerLength = BinaryPrimitives.ReadInt64LittleEndian(length);
            if (headerLength <= 0 || headerLength > MaxHeaderBytes || 8 + headerLength > fileLength)
                throw new CheckpointException($"{path}: not a safetensors file or truncated: header length {headerLength} in a file of {fileLength} bytes.");
            json = new byte[headerLength];
            file.ReadExactly(json);
        }
        catch (EndOfStreamException e)
        {
            throw new CheckpointException($"{path}: truncated while its header was read (did it change while it was read?).", e);
        }
        catch (IOException e)
        {
            throw new CheckpointException($"{path}: cannot be read: {e.Message}", e);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{path}: the safetensors header is not valid JSON ({e.Message}).", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new CheckpointException($"{path}: the safetensors header is not a JSON object but {Describe(root.ValueKind)}.");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var entries = new List<TensorEntry>();
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in root.EnumerateObject())
            {
                if (!names.Add(property.Name))
                    throw new CheckpointException($"{path}: the safetensors header names '{property.Name}' twice.");
                if (property.Name == MetadataKey)
                    ReadMetadata(path, property.Value, metadata);
                else
                    entries.Add(ReadEntry(path, property.Name, property.Value));
            }
            long dataLength = fileLength - 8 - headerLength;
            expect?.Invoke(entries, metadata);
            CheckLayout(path, entries, dataLength);
            return new SafeTensorsHeader(entries, metadata, 8 + headerLength);
        }
    }

    private static void ReadMetadata(string path, JsonElement node, Dictionary<string, string> metadata)
    {
        if (node.ValueKind != JsonValueKind.Object)
            throw new CheckpointException($"{path}: the header's {MetadataKey} is {Describe(node.ValueKind)}, not an object of strings.");
        foreach (var item in node.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new CheckpointException($"{path}: metadata entry '{item.Name}' is {Describe(item.Value.ValueKind)}, not a string.");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw new CheckpointException($"{path}: the metadata names '{item.Name}' twice.");
        }
    }

    private static TensorEntry ReadEntry(string path, string name, JsonElement node)
    {
        if (node.ValueKind != JsonValueKind.Object)
            throw new CheckpointException($"{path}: the header entry of tensor '{name}' is {Describe(node.ValueKind)}, not an object.");
        JsonElement? dtype = null, shape = null, offsets = null;
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in node.EnumerateObject())
        {
            if (!keys.Add(p.Name))
                throw new CheckpointException($"{path}: the header entry of tensor '{name}' gives '{p.Name}' twice.");
            switch (p.Name)
            {
                case "dtype":
                    dtype = p.Value;
                    break;
                case "shape":
                    shape = p.Value;
                    break;
                case "data_offsets":
                    offsets = p.Value;
                    break;
            }
        }
        if (dtype is not { ValueKind: JsonValueKind.String } d)
            throw new CheckpointException($"{path}: tensor '{name}' has no dtype string.");
        if (d.GetString() != "F32")
            throw new CheckpointException($"{path}: tensor '{name}' has dtype {d.GetString()}; only F32 is supported.");
        if (shape is not { ValueKind: JsonValueKind.Array } s)
            throw new CheckpointException($"{path}: tensor '{name}' has no shape array.");
        var dims = new List<int>();
        long count = 1;
        foreach (var dim in s.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long v))
                throw new CheckpointException($"{path}: tensor '{name}' has a shape entry {dim.GetRawText()} that is not a whole number.");
            if (v < 1 || v > int.MaxValue)
                throw new CheckpointException($"{path}: tensor '{name}' has dimension {v} in its shape {s.GetRawText()}; every dimension must be from 1 to {int.MaxValue}.");
            dims.Add((int)v);
            count *= v;
            if (count > Array.MaxLength)
                throw new CheckpointException($"{path}: tensor '{name}' of shape {s.GetRawText()} holds more than the {Array.MaxLength:N0} values an array can hold.");
        }
        if (offsets is not { ValueKind: JsonValueKind.Array } o || o.GetArrayLength() != 2)
            throw new CheckpointException($"{path}: tensor '{name}' has no data_offsets pair [begin, end].");
        var pair = new long[2];
        int i = 0;
        foreach (var x in o.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt64(out pair[i]) || pair[i] < 0)
                throw new CheckpointException($"{path}: tensor '{name}' has data_offsets {o.GetRawText()}; both must be whole numbers of at least 0.");
            i++;
        }
        string shapeText = $"[{string.Join(", ", dims)}]";
        if (pair[1] < pair[0] || pair[1] - pair[0] != 4 * count)
        {
            throw new CheckpointException(
                $"{path}: tensor '{name}' has data_offsets [{pair[0]}, {pair[1]}], which do not span the {4 * count} bytes of F32 × {shapeText}.");
        }
        return new TensorEntry(name, dims.ToArray(), pair[0], pair[1]);
    }

    /// <summary>The tensors' data, in offset order, must cover the data section exactly: no gap, no overlap, nothing past it.</summary>
    private static void CheckLayout(string path, List<TensorEntry> entries, long dataLength)
    {
        long end = 0;
        TensorEntry? previous = null;
        foreach (var e in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (e.Begin < end)
            {
                throw new CheckpointException(
                    $"{path}: the data of tensors '{previous!.Name}' [{previous.Begin}, {previous.End}) and '{e.Name}' [{e.Begin}, {e.End}) overlap.");
            }
            if (e.Begin > end)
            {
                throw new CheckpointException(previous is null
                    ? $"{path}: the data of the first tensor, '{e.Name}', starts at byte {e.Begin} instead of 0 (the data must be contiguous)."
                    : $"{path}: bytes [{end}, {e.Begin}) between the data of tensors '{previous.Name}' and '{e.Name}' belong to no tensor (the data must be contiguous).");
            }
            if (e.End > dataLength)
            {
                throw new CheckpointException(
                    $"{path}: truncated: tensor '{e.Name}' of shape [{string.Join(", ", e.Shape)}] has data_offsets [{e.Begin}, {e.End}] but the file holds only {dataLength} data bytes.");
            }
            end = e.End;
            previous = e;
        }
        if (end < dataLength)
            throw new CheckpointException($"{path}: {dataLength - end} bytes after the last tensor's data belong to no tensor.");
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "an object",
    };

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

    private static void ReadFloats(Stream stream, float[] data)
    {
        var bytes = MemoryMarshal.AsBytes(data.AsSpan());
        stream.ReadExactly(bytes);
        if (!BitConverter.IsLittleEndian)
        {
            for (int i = 0; i < data.Length; i++)
                data[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(4 * i)..]);
        }
    }
}
