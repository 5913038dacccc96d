using System.Buffers.Binary;
using System.IO.Compression;

namespace AttentionWise.Training.Data;

/// <summary>
/// Reader of IDX files (the MNIST format): a big-endian magic number 0x000008DD (unsigned bytes, DD
/// dimensions), one big-endian int32 per dimension, then the bytes. Files ending in ".gz" must be
/// gzip-compressed; others are read as they are. Every problem is a <see cref="DatasetException"/>
/// naming the file, what was expected and what was found.
/// </summary>
public static class Idx
{
    /// <summary>Magic of an image file: unsigned bytes, 3 dimensions (count, rows, columns).</summary>
    public const int ImagesMagic = 0x00000803;

    /// <summary>Magic of a label file: unsigned bytes, 1 dimension (count).</summary>
    public const int LabelsMagic = 0x00000801;

    private static readonly byte[] GzipSignature = [0x1f, 0x8b];

    /// <summary>An image file: <c>count</c> images of <c>rows × cols</c> bytes, row-major.</summary>
    public sealed record Images(int Count, int Rows, int Cols, byte[] Pixels);

    public static Images ReadImages(string path)
    {
        var bytes = ReadAll(path);
        var dims = Header(path, bytes, ImagesMagic, "an image file", 3);
        int count = dims[0], rows = dims[1], cols = dims[2];
        if (rows <= 0 || cols <= 0)
            throw new DatasetException($"{path}: expected a positive image size but the header says {rows}×{cols} pixels.");
        long pixels = (long)count * rows * cols;
        CheckLength(path, bytes.Length, 16, pixels, $"{count} images of {rows}×{cols} pixels");
        return new Images(count, rows, cols, bytes.AsSpan(16).ToArray());
    }

    /// <summary>A label file: one byte per item.</summary>
    public static byte[] ReadLabels(string path)
    {
        var bytes = ReadAll(path);
        int count = Header(path, bytes, LabelsMagic, "a label file", 1)[0];
        CheckLength(path, bytes.Length, 8, count, $"{count} labels");
        return bytes.AsSpan(8).ToArray();
    }

    /// <summary>Writes an IDX image file (gzip-compressed when the name ends in ".gz"); for tests and tools.</summary>
    public static void WriteImages(string path, int count, int rows, int cols, byte[] pixels)
    {
        var header = new byte[16];
        BinaryPrimitives.WriteInt32BigEndian(header, ImagesMagic);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), count);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(8), rows);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(12), cols);
        Write(path, header, pixels);
    }

    /// <summary>Writes an IDX label file (gzip-compressed when the name ends in ".gz"); for tests and tools.</summary>
    public static void WriteLabels(string path, byte[] labels)
    {
        var header = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, LabelsMagic);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), labels.Length);
        Write(path, header, labels);
    }

    private static void Write(string path, byte[] header, byte[] body)
    {
        using var file = File.Create(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
            ? new GZipStream(file, CompressionLevel.Fastest)
            : file;
        stream.Write(header);
        stream.Write(body);
    }

    private static int[] Header(string path, byte[] bytes, int magic, string what, int rank)
    {
        if (bytes.Length < 4)
            throw Short();
        int found = BinaryPrimitives.ReadInt32BigEndian(bytes);
        if (found != magic)
        {
            string hint = found == ImagesMagic ? " (that is an image file)" : found == LabelsMagic ? " (that is a label file)" : " (not an IDX file of unsigned bytes)";
            throw new DatasetException($"{path}: expected the IDX magic number 0x{magic:X8} of {what} but found 0x{found:X8}{hint}.");
        }
        if (bytes.Length < 4 + 4 * rank)
            throw Short();
        var dims = new int[rank];
        for (int d = 0; d < rank; d++)
        {
            dims[d] = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(4 + 4 * d));
            if (dims[d] < 0)
                throw new DatasetException($"{path}: dimension {d} of the IDX header is negative ({dims[d]}).");
        }
        return dims;

        DatasetException Short() => new(
            $"{path}: truncated: an IDX header of {4 + 4 * rank} bytes was expected for {what} but the file holds only {bytes.Length} bytes.");
    }

    private static void CheckLength(string path, long actual, int headerBytes, long expectedBody, string what)
    {
        long body = actual - headerBytes;
        if (body < expectedBody)
            throw new DatasetException($"{path}: truncated: the header announces {what} ({expectedBody:N0} bytes) but only {body:N0} bytes follow it.");
        if (body > expectedBody)
            throw new DatasetException($"{path}: the header announces {what} ({expectedBody:N0} bytes) but {body:N0} bytes follow it.");
    }

    private static byte[] ReadAll(string path)
    {
        byte[] raw;
        try
        {
            raw = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"{path}: cannot be read: {e.Message}", e);
        }
        if (!path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
            return raw;
        if (raw.Length < 2 || raw[0] != GzipSignature[0] || raw[1] != GzipSignature[1])
        {
            string found = raw.Length == 0 ? "an empty file" : $"first bytes {Convert.ToHexString(raw.AsSpan(0, Math.Min(4, raw.Length)))}";
            throw new DatasetException($"{path}: not a gzip file: expected the gzip signature 1F8B but found {found}.");
        }
        try
        {
            using var gzip = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
            using var output = new MemoryStream(raw.Length * 4);
            gzip.CopyTo(output);
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new DatasetException($"{path}: the gzip data is corrupt or truncated ({e.Message}).", e);
        }
    }
}
