using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using AttentionWise.Training.IO;

namespace AttentionWise.Training.Data;

/// <summary>
/// Reader of IDX files (the MNIST format): a big-endian magic number 0x000008DD (unsigned bytes, DD
/// dimensions), one big-endian int32 per dimension, then the bytes. Files ending in ".gz" must be
/// gzip-compressed; others are read as they are. Only regular files are opened; the header is read first and
/// the reading stops at the size it announces. Every problem is a <see cref="DatasetException"/> naming the
/// file, what was expected and what was found.
/// </summary>
internal static class Idx
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
        using var file = IdxStream.Open(path);
        var dims = file.Header(ImagesMagic, "an image file", 3);
        int count = dims[0], rows = dims[1], cols = dims[2];
        if (rows <= 0 || cols <= 0)
            throw new DatasetException($"{path}: expected a positive image size but the header says {rows}×{cols} pixels.");
        string what = $"{count} images of {rows}×{cols} pixels";
        Int128 pixels = (Int128)count * rows * cols;
        if (pixels > Array.MaxLength)
            throw new DatasetException($"{path}: the header announces {what} ({pixels:N0} bytes), more than the {Array.MaxLength:N0} bytes one file may hold here.");
        return new Images(count, rows, cols, file.Body((long)pixels, what));
    }

    /// <summary>A label file: one byte per item.</summary>
    public static byte[] ReadLabels(string path)
    {
        using var file = IdxStream.Open(path);
        int count = file.Header(LabelsMagic, "a label file", 1)[0];
        return file.Body(count, $"{count} labels");
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

    /// <summary>
    /// One IDX file being read: the header first, from the (decompressed) stream, then exactly the bytes the header
    /// announces and one byte more to see whether the file ends there. Nothing is read past that, so a file that is far
    /// longer than its header says (a gzip bomb, say) costs no more than the data set it claims to be. A gzip file's
    /// trailer (RFC 1952: the CRC-32 and the length of the decompressed data, its last 8 bytes) must match what was
    /// decompressed: .NET's GZipStream ends quietly where the compressed data is cut short, so without this a file
    /// that lost its trailer (or more, at a deflate block's end) would be accepted.
    /// </summary>
    private sealed class IdxStream : IDisposable
    {
        /// <summary>The most bytes the body of one file may hold (the largest byte array .NET allocates).</summary>
        private static readonly long MaxBody = Array.MaxLength;

        private const int FirstChunk = 1 << 20;

        private readonly string _path;
        private readonly FileStream _file;
        private readonly Stream _stream;
        private readonly bool _compressed;
        private readonly Crc32 _crc = new();
        private long _decompressed;
        private int _headerBytes;

        private IdxStream(string path, FileStream file, Stream stream, bool compressed)
        {
            _path = path;
            _file = file;
            _stream = stream;
            _compressed = compressed;
        }

        public static IdxStream Open(string path)
        {
            InputFile.RequireRegular(path, m => new DatasetException(m));
            FileStream file;
            try
            {
                file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new DatasetException($"{path}: cannot be read: {e.Message}", e);
            }
            try
            {
                if (!path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
                    return new IdxStream(path, file, file, compressed: false);
                Span<byte> first = stackalloc byte[4];
                int n = ReadUpTo(file, first, path);
                if (n < 2 || first[0] != GzipSignature[0] || first[1] != GzipSignature[1])
                {
                    string found = n == 0 ? "an empty file" : $"first bytes {Convert.ToHexString(first[..n])}";
                    throw new DatasetException($"{path}: not a gzip file: expected the gzip signature 1F8B but found {found}.");
                }
                file.Position = 0;
                return new IdxStream(path, file, new GZipStream(file, CompressionMode.Decompress), compressed: true);
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }

        /// <summary>Reads the magic number and the dimensions.</summary>
        public int[] Header(int magic, string what, int rank)
        {
            int size = 4 + 4 * rank;
            var header = new byte[size];
            int n = Counted(header.AsSpan(0, 4), ReadUpTo(_stream, header.AsSpan(0, 4), _path));
            if (n < 4)
                throw Short(n);
            int found = BinaryPrimitives.ReadInt32BigEndian(header);
            if (found != magic)
            {
                string hint = found == ImagesMagic ? " (that is an image file)" : found == LabelsMagic ? " (that is a label file)" : " (not an IDX file of unsigned bytes)";
                throw new DatasetException($"{_path}: expected the IDX magic number 0x{magic:X8} of {what} but found 0x{found:X8}{hint}.");
            }
            n = 4 + Counted(header.AsSpan(4), ReadUpTo(_stream, header.AsSpan(4), _path));
            if (n < size)
                throw Short(n);
            _headerBytes = size;
            var dims = new int[rank];
            for (int d = 0; d < rank; d++)
            {
                dims[d] = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(4 + 4 * d));
                if (dims[d] < 0)
                    throw new DatasetException($"{_path}: dimension {d} of the IDX header is negative ({dims[d]}).");
            }
            return dims;

            DatasetException Short(int got) => new(
                $"{_path}: truncated: an IDX header of {size} bytes was expected for {what} but the file holds only {got} bytes.");
        }

        /// <summary>Reads the <paramref name="expected"/> bytes the header announces and checks that nothing follows them.</summary>
        public byte[] Body(long expected, string what)
        {
            if (expected > MaxBody)
                throw new DatasetException($"{_path}: the header announces {what} ({expected:N0} bytes), more than the {MaxBody:N0} bytes one file may hold here.");
            if (!_compressed)
            {
                long body = _file.Length - _headerBytes;
                if (body < expected)
                    throw new DatasetException($"{_path}: truncated: the header announces {what} ({expected:N0} bytes) but only {body:N0} bytes follow it.");
                if (body > expected)
                    throw new DatasetException($"{_path}: the header announces {what} ({expected:N0} bytes) but {body:N0} bytes follow it.");
            }
            // The buffer grows with the data actually there, never beyond what the header announces.
            var data = new byte[(int)Math.Min(expected, FirstChunk)];
            int filled = 0;
            while (filled < expected)
            {
                if (filled == data.Length)
                    Array.Resize(ref data, (int)Math.Min(expected, 2L * data.Length));
                int n = Read(_stream, data.AsSpan(filled));
                if (n == 0)
                    throw new DatasetException($"{_path}: truncated: the header announces {what} ({expected:N0} bytes) but only {filled:N0} bytes follow it.");
                filled += n;
            }
            Span<byte> probe = stackalloc byte[1];
            if (Read(_stream, probe) != 0)
                throw new DatasetException($"{_path}: the header announces {what} ({expected:N0} bytes) but more bytes follow it.");
            if (_compressed)
                CheckTrailer();
            return data;
        }

        /// <summary>The gzip trailer (the file's last 8 bytes: CRC-32, then the decompressed length modulo 2³², both
        /// little-endian) agrees with the data decompressed.</summary>
        private void CheckTrailer()
        {
            Span<byte> trailer = stackalloc byte[8];
            long length = _file.Length;
            int got = length >= 18 ? RandomAccess.Read(_file.SafeFileHandle, trailer, length - 8) : 0;
            uint crc = _crc.GetCurrentHashAsUInt32();
            uint size = unchecked((uint)_decompressed);
            if (got == 8 && BinaryPrimitives.ReadUInt32LittleEndian(trailer) == crc && BinaryPrimitives.ReadUInt32LittleEndian(trailer[4..]) == size)
                return;
            string found = got == 8
                ? $"its last 8 bytes say CRC-32 {BinaryPrimitives.ReadUInt32LittleEndian(trailer):X8} and size {BinaryPrimitives.ReadUInt32LittleEndian(trailer[4..]):N0}"
                : "it is too short to hold a trailer";
            throw new DatasetException(
                $"{_path}: truncated or corrupt: the gzip trailer does not match the data (CRC-32 {crc:X8} and size {size:N0} decompressed, {found}); the file lost its end or was damaged: fetch it again.");
        }

        private static int ReadUpTo(Stream stream, Span<byte> buffer, string path)
        {
            int total = 0;
            while (total < buffer.Length)
            {
                int n = Read(stream, buffer[total..], path);
                if (n == 0)
                    break;
                total += n;
            }
            return total;
        }

        private int Read(Stream stream, Span<byte> buffer) => Counted(buffer, Read(stream, buffer, _path));

        /// <summary>Adds the first <paramref name="n"/> bytes of <paramref name="buffer"/>, just decompressed, to the
        /// CRC-32 and length the trailer is checked against; returns <paramref name="n"/>.</summary>
        private int Counted(ReadOnlySpan<byte> buffer, int n)
        {
            if (_compressed)
            {
                _crc.Append(buffer[..n]);
                _decompressed += n;
            }
            return n;
        }

        private static int Read(Stream stream, Span<byte> buffer, string path)
        {
            try
            {
                return stream.Read(buffer);
            }
            catch (InvalidDataException e)
            {
                throw new DatasetException($"{path}: the gzip data is corrupt or truncated ({e.Message}).", e);
            }
            catch (IOException e)
            {
                throw new DatasetException($"{path}: cannot be read: {e.Message}", e);
            }
        }

        public void Dispose()
        {
            _stream.Dispose();
            _file.Dispose();
        }
    }
}
