namespace AttentionWise.Training.Visualization;

/// <summary>An RGB raster to compose figures on: filled rectangles, labelled heat maps, text.</summary>
public sealed class Canvas
{
    private readonly byte[] _rgb;

    public Canvas(int width, int height, (byte R, byte G, byte B)? background = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        Width = width;
        Height = height;
        _rgb = new byte[width * height * 3];
        Fill(0, 0, width, height, background ?? (255, 255, 255));
    }

    public int Width { get; }
    public int Height { get; }

    public (byte R, byte G, byte B) this[int x, int y]
    {
        get
        {
            int i = (y * Width + x) * 3;
            return (_rgb[i], _rgb[i + 1], _rgb[i + 2]);
        }
    }

    public void SetPixel(int x, int y, (byte R, byte G, byte B) c)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height)
            return;
        int i = (y * Width + x) * 3;
        _rgb[i] = c.R;
        _rgb[i + 1] = c.G;
        _rgb[i + 2] = c.B;
    }

    public void Fill(int x, int y, int w, int h, (byte R, byte G, byte B) c)
    {
        for (int yy = Math.Max(0, y); yy < Math.Min(Height, y + h); yy++)
        {
            for (int xx = Math.Max(0, x); xx < Math.Min(Width, x + w); xx++)
                SetPixel(xx, yy, c);
        }
    }

    /// <summary>Draws a one-pixel rectangle outline.</summary>
    public void Frame(int x, int y, int w, int h, (byte R, byte G, byte B) c)
    {
        Fill(x, y, w, 1, c);
        Fill(x, y + h - 1, w, 1, c);
        Fill(x, y, 1, h, c);
        Fill(x + w - 1, y, 1, h, c);
    }

    /// <summary>Draws text with the 5×7 font, each font pixel <paramref name="scale"/>² screen pixels.</summary>
    public void Text(int x, int y, string text, int scale = 1, (byte R, byte G, byte B)? color = null)
    {
        var c = color ?? (0, 0, 0);
        int pen = x;
        foreach (char ch in text)
        {
            var glyph = BitmapFont.Glyph(ch);
            for (int row = 0; row < BitmapFont.GlyphHeight; row++)
            {
                for (int col = 0; col < BitmapFont.GlyphWidth; col++)
                {
                    if ((glyph[row] & (1 << (BitmapFont.GlyphWidth - 1 - col))) != 0)
                        Fill(pen + col * scale, y + row * scale, scale, scale, c);
                }
            }
            pen += BitmapFont.Advance * scale;
        }
    }

    /// <summary>
    /// Draws a <paramref name="rows"/>×<paramref name="cols"/> grid of values as a heat map, each cell
    /// <paramref name="cell"/> pixels wide, scaled so that <paramref name="lo"/> and <paramref name="hi"/>
    /// map to the ends of the colour map (with a diverging map, the range is made symmetric around 0).
    /// </summary>
    public void Heatmap(int x, int y, ReadOnlySpan<float> values, int rows, int cols, int cell, ColormapKind map, float lo, float hi)
    {
        if (values.Length < rows * cols)
            throw new ArgumentException($"A {rows}×{cols} heat map needs {rows * cols} values, not {values.Length}.", nameof(values));
        if (map == ColormapKind.Diverging)
        {
            float m = Math.Max(Math.Abs(lo), Math.Abs(hi));
            lo = -m;
            hi = m;
        }
        float span = hi > lo ? hi - lo : 1f;
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                float v = values[r * cols + c];
                double t = float.IsFinite(v) ? (v - lo) / span : double.NaN;
                Fill(x + c * cell, y + r * cell, cell, cell, Colormap.Map(map, t));
            }
        }
    }

    /// <summary>
    /// Draws three planes (red, green, blue; each <paramref name="rows"/>×<paramref name="cols"/>) as a colour image,
    /// all three scaled together so that <paramref name="lo"/> is black and <paramref name="hi"/> full intensity.
    /// </summary>
    public void RgbImage(int x, int y, ReadOnlySpan<float> red, ReadOnlySpan<float> green, ReadOnlySpan<float> blue, int rows, int cols, int cell, float lo, float hi)
    {
        int n = rows * cols;
        if (red.Length < n || green.Length < n || blue.Length < n)
            throw new ArgumentException($"A {rows}×{cols} colour image needs {n} values per plane.");
        float span = hi > lo ? hi - lo : 1f;
        byte B(float v) => float.IsFinite(v) ? (byte)Math.Round(255 * Math.Clamp((v - lo) / span, 0f, 1f)) : (byte)0;
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                int i = r * cols + c;
                var colour = float.IsFinite(red[i]) && float.IsFinite(green[i]) && float.IsFinite(blue[i])
                    ? (B(red[i]), B(green[i]), B(blue[i]))
                    : ((byte)255, (byte)0, (byte)255);
                Fill(x + c * cell, y + r * cell, cell, cell, colour);
            }
        }
    }

    /// <summary>Draws a vertical colour bar with its end values written beside it.</summary>
    public void ColorBar(int x, int y, int width, int height, ColormapKind map, float lo, float hi, int textScale = 1)
    {
        if (map == ColormapKind.Diverging)
        {
            float m = Math.Max(Math.Abs(lo), Math.Abs(hi));
            lo = -m;
            hi = m;
        }
        for (int i = 0; i < height; i++)
            Fill(x, y + i, width, 1, Colormap.Map(map, 1.0 - (double)i / Math.Max(1, height - 1)));
        Frame(x, y, width, height, (0, 0, 0));
        Text(x + width + 3, y, Format(hi), textScale);
        Text(x + width + 3, y + height - BitmapFont.GlyphHeight * textScale, Format(lo), textScale);
    }

    public byte[] ToPng() => Png.Encode(Width, Height, _rgb);

    public void Save(string path) => Png.Write(path, Width, Height, _rgb);

    /// <summary>A compact number for labels: 3 significant digits (0.00128, 0.999, 12.3, 1.23E+5).</summary>
    public static string Format(float v)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        if (v == 0 || !float.IsFinite(v))
            return v.ToString(inv);
        double a = Math.Abs(v);
        if (a < 1e-3 || a >= 1e5)
            return v.ToString("0.##E+0", inv);
        int decimals = Math.Clamp(2 - (int)Math.Floor(Math.Log10(a)), 0, 5);
        return Math.Round(v, decimals).ToString("0." + new string('#', Math.Max(decimals, 1)), inv);
    }
}
