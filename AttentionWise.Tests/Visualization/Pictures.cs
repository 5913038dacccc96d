using System.Text.RegularExpressions;
using SkiaSharp;

namespace AttentionWise.Tests.Visualization;

/// <summary>Decodes the figures the project writes with SkiaSharp and checks what a reader would see.</summary>
public static partial class Pictures
{
    /// <summary>Decodes a PNG file into 8-bit RGBA pixels.</summary>
    public static SKBitmap Decode(string path)
    {
        Assert.True(File.Exists(path), $"{path} was not written");
        var bitmap = SKBitmap.Decode(path);
        Assert.True(bitmap is not null, $"{path} does not decode as an image");
        return bitmap;
    }

    public static SKBitmap Decode(byte[] png)
    {
        var bitmap = SKBitmap.Decode(png);
        Assert.True(bitmap is not null, "the bytes do not decode as an image");
        return bitmap;
    }

    public static int DistinctColours(SKBitmap bitmap)
    {
        var seen = new HashSet<uint>();
        for (int y = 0; y < bitmap.Height; y++)
        {
            for (int x = 0; x < bitmap.Width; x++)
                seen.Add((uint)bitmap.GetPixel(x, y));
        }
        return seen.Count;
    }

    /// <summary>Pixels within <paramref name="tolerance"/> of <paramref name="colour"/> in every channel.</summary>
    public static int CountNear(SKBitmap bitmap, SKColor colour, int tolerance = 12)
    {
        int n = 0;
        for (int y = 0; y < bitmap.Height; y++)
        {
            for (int x = 0; x < bitmap.Width; x++)
            {
                var c = bitmap.GetPixel(x, y);
                if (Math.Abs(c.Red - colour.Red) <= tolerance && Math.Abs(c.Green - colour.Green) <= tolerance && Math.Abs(c.Blue - colour.Blue) <= tolerance)
                    n++;
            }
        }
        return n;
    }

    /// <summary>Checks that <paramref name="path"/> decodes at exactly the size the command reported
    /// (its "wrote PATH (W×H)" line in <paramref name="output"/>), at least <paramref name="minWidth"/>×<paramref name="minHeight"/>,
    /// shows many colours, and has no magenta (the colour of non-finite values).</summary>
    public static SKBitmap AssertFigure(string path, string output, int minWidth, int minHeight, int minColours = 40)
    {
        var bitmap = Decode(path);
        var reported = ReportedSize(output, path);
        Assert.Equal(reported, (bitmap.Width, bitmap.Height));
        Assert.True(bitmap.Width >= minWidth && bitmap.Height >= minHeight, $"{path} is {bitmap.Width}×{bitmap.Height}, expected at least {minWidth}×{minHeight}");
        Assert.True(bitmap.Width <= 6000 && bitmap.Height <= 6000, $"{path} is {bitmap.Width}×{bitmap.Height}");
        int colours = DistinctColours(bitmap);
        Assert.True(colours >= minColours, $"{path} has only {colours} distinct colours");
        Assert.Equal(0, CountNear(bitmap, SKColors.Magenta, 0));
        return bitmap;
    }

    /// <summary>The size in a "wrote PATH (W×H)" line.</summary>
    public static (int Width, int Height) ReportedSize(string output, string path)
    {
        var m = Regex.Match(output, Regex.Escape("wrote " + path) + @" \((\d+)×(\d+)\)");
        Assert.True(m.Success, $"no 'wrote {path} (W×H)' line in:\n{output}");
        return (int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Relative luminance (0–255) of a pixel.</summary>
    public static double Luminance(SKColor c) => 0.2126 * c.Red + 0.7152 * c.Green + 0.0722 * c.Blue;
}
