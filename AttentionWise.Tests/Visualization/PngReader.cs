using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace AttentionWise.Tests.Visualization;

/// <summary>Test helper: checks a PNG's structure (signature, chunk CRCs, IHDR) and decodes 8-bit RGB
/// images with filter type 0, which is what the project writes.</summary>
public static class PngReader
{
    public static (int Width, int Height) ReadSize(byte[] png)
    {
        Assert.True(png.Length > 33, "file too short to be a PNG");
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.Equal("IHDR", Encoding.ASCII.GetString(png, 12, 4));
        return (BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16)), BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20)));
    }

    public static (int Width, int Height, byte[] Rgb) Decode(byte[] png)
    {
        var (width, height) = ReadSize(png);
        Assert.Equal(8, png[24]);
        Assert.Equal(2, png[25]);
        using var idat = new MemoryStream();
        int pos = 8;
        bool sawEnd = false;
        while (pos < png.Length)
        {
            int length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            string type = Encoding.ASCII.GetString(png, pos + 4, 4);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(pos + 8 + length));
            Assert.Equal(Crc(png.AsSpan(pos + 4, 4 + length)), crc);
            if (type == "IDAT")
                idat.Write(png, pos + 8, length);
            if (type == "IEND")
                sawEnd = true;
            pos += 12 + length;
        }
        Assert.True(sawEnd, "no IEND chunk");
        idat.Position = 0;
        using var z = new ZLibStream(idat, CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z.CopyTo(raw);
        var bytes = raw.ToArray();
        int stride = width * 3;
        Assert.Equal(height * (stride + 1), bytes.Length);
        var rgb = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            Assert.Equal(0, bytes[y * (stride + 1)]);
            Array.Copy(bytes, y * (stride + 1) + 1, rgb, y * stride, stride);
        }
        return (width, height, rgb);
    }

    /// <summary>Number of distinct colours: a blank image has one.</summary>
    public static int DistinctColours(byte[] rgb)
    {
        var set = new HashSet<int>();
        for (int i = 0; i < rgb.Length; i += 3)
            set.Add(rgb[i] << 16 | rgb[i + 1] << 8 | rgb[i + 2]);
        return set.Count;
    }

    private static uint Crc(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++)
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        return c ^ 0xFFFFFFFFu;
    }
}
